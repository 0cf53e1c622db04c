# The guest kernel has what this test needs: ipvlan children made with the host's iproute2 (no Tether) talk to each
# other and to a router namespace on the parent's segment.
. /kernel/lib.sh
lab
ns router
ip -n "$LAB" link add up0 type veth peer name down0 netns router
ip -n "$LAB" link set up0 up
inns router ip addr add 10.80.0.1/24 dev down0
inns router ip link set down0 up
for i in 1 2; do
  ns "s$i"
  check "ipvlan l2 child $i" ip -n "$LAB" link add "iv$i" link up0 type ipvlan mode l2
  ip -n "$LAB" link set "iv$i" netns "s$i"
  inns "s$i" ip addr add "10.80.0.1$i/24" dev "iv$i"
  inns "s$i" ip link set "iv$i" up
done
check "child 1 reaches child 2" inns s1 ping -c 1 -W 5 10.80.0.12
check "child 2 reaches the router" inns s2 ping -c 1 -W 5 10.80.0.1
check "the router reaches child 1" inns router ping -c 1 -W 5 10.80.0.11
contains "ip -d link shows ipvlan mode l2" "ipvlan  mode l2" ip -n s1 -d link show iv1
for n in s1 s2 router "$LAB"; do ip netns del "$n"; done
