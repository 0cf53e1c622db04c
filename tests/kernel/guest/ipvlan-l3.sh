# ipvlan l3 and l3s: no gateway; the sandboxes' default route goes through the device and the parent routes. A router
# namespace on the parent's segment reaches the sandboxes through a route via the host's (lab's) address on the parent.
. /kernel/lib.sh
lab
ns router
for i in 0 1; do
  ip -n "$LAB" link add "up$i" type veth peer name "down$i" netns router
  ip -n "$LAB" addr add "192.168.5$i.2/24" dev "up$i"
  ip -n "$LAB" link set "up$i" up
  inns router ip addr add "192.168.5$i.1/24" dev "down$i"
  inns router ip link set "down$i" up
done
inns router ip route add 10.91.0.0/24 via 192.168.50.2
inns router ip route add 10.92.0.0/24 via 192.168.51.2

check "network create -d ipvlan l3 without gateway" t network create -d ipvlan -o parent=up0 -o ipvlan_mode=l3 \
  --subnet 10.91.0.0/24 ipl3
check "sandbox a" t create --name a --network ipl3 --ip 10.91.0.10
check "sandbox b" t create --name b --network ipl3 --ip 10.91.0.11
contains "eth0 of a is an ipvlan child in mode l3" "ipvlan  mode l3 " sb a ip -d link show eth0
contains "default route of a through the device" "default dev eth0" sb a ip route
lacks "no gateway in a's routes" "via" sb a ip route
check "a reaches b" sb a ping -c 1 -W 5 10.91.0.11
check "a reaches the router through the parent" sb a ping -c 1 -W 5 192.168.50.1
check "the router reaches b" inns router ping -c 1 -W 5 10.91.0.11

check "network create -d ipvlan l3s on another parent" t network create -d ipvlan -o parent=up1 -o ipvlan_mode=l3s \
  --subnet 10.92.0.0/24 ipl3s
check "sandbox c" t create --name c --network ipl3s --ip 10.92.0.10
contains "eth0 of c is an ipvlan child in mode l3s" "ipvlan  mode l3s" sb c ip -d link show eth0
check "c reaches the router through the parent" sb c ping -c 1 -W 5 192.168.51.1
check "the router reaches c" inns router ping -c 1 -W 5 10.92.0.10

check "rm" t rm -f a b c
check "network rm" t network rm ipl3 ipl3s
same "no ipvlan link left in the lab" "" "$(ip -n "$LAB" -o link show type ipvlan)"
ip netns del router
ip netns del "$LAB"
