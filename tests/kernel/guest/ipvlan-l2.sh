# ipvlan l2: two sandboxes on one ipvlan network over a parent link reach each other and a router namespace on the
# parent's segment (the gateway, outside Tether); a network without parent or with a bad mode is refused and changes
# nothing; removal leaves no ipvlan links, sandboxes or leases, and the parent as it was; parent=IFACE.VLAN works too.
. /kernel/lib.sh
lab
ns router
ip -n "$LAB" link add up0 type veth peer name down0 netns router
ip -n "$LAB" link set up0 up
inns router ip addr add 10.90.0.1/24 dev down0
inns router ip link set down0 up
parent_before="$(ip -n "$LAB" -o link show up0 | sed 's/state [A-Z]*//')"

refuse "no parent: refused" "parent" t network create -d ipvlan --subnet 10.90.0.0/24 --gateway 10.90.0.1 nopar
refuse "bad ipvlan_mode: refused" "l4" t network create -d ipvlan -o parent=up0 -o ipvlan_mode=l4 --subnet 10.90.0.0/24 badmode
refuse "missing parent link: refused" "nosuch0" t network create -d ipvlan -o parent=nosuch0 --subnet 10.90.0.0/24 badpar
lacks "refused networks were not stored" "ipvlan" t network ls

check "network create -d ipvlan l2" t network create -d ipvlan -o parent=up0 -o ipvlan_mode=l2 \
  --subnet 10.90.0.0/24 --gateway 10.90.0.1 ipl2
contains "network ls shows the ipvlan driver" "ipvlan" t network ls
check "sandbox a" t create --name a --network ipl2 --ip 10.90.0.10
check "sandbox b" t create --name b --network ipl2
b="$(addr_of b)"
case "$b" in 10.90.0.1|10.90.0.10|"") fail "b leased \"$b\"" ;; 10.90.0.*) ok "b leased $b" ;; *) fail "b leased $b" ;; esac
contains "eth0 of a is an ipvlan child in mode l2" "ipvlan  mode l2" sb a ip -d link show eth0
contains "default route of a via the router" "default via 10.90.0.1 dev eth0" sb a ip route
check "a reaches b" sb a ping -c 1 -W 5 $b
check "a reaches the router" sb a ping -c 1 -W 5 10.90.0.1
check "the router reaches b" inns router ping -c 1 -W 5 $b
contains "inspect shows a's address" "10.90.0.10" t inspect a

check "rm a b" t rm -f a b
same "no ipvlan link left in the lab" "" "$(ip -n "$LAB" -o link show type ipvlan)"
same "no sandbox namespace left" "" "$(ls "$RUNDIR/netns" 2>/dev/null)"
check "a's address is free again: sandbox c takes it" t create --name c --network ipl2 --ip 10.90.0.10
check "rm c" t rm -f c
check "network rm" t network rm ipl2
same "no sandboxes left" "[]" "$(t ls --format json)"
lacks "no network left" "ipl2" t network ls
same "the parent is as it was" "$parent_before" "$(ip -n "$LAB" -o link show up0 | sed 's/state [A-Z]*//')"

# ipvlan over an 802.1Q sub-interface that Tether makes: tagged traffic reaches the router's VLAN 7 address.
inns router ip link add link down0 name down0.7 type vlan id 7
inns router ip addr add 10.97.0.1/24 dev down0.7
inns router ip link set down0.7 up
check "network create -d ipvlan parent=up0.7" t network create -d ipvlan -o parent=up0.7 --subnet 10.97.0.0/24 --gateway 10.97.0.1 v7
contains "up0.7 is VLAN 7 of up0" "vlan protocol 802.1Q id 7" ip -n "$LAB" -d link show up0.7
check "sandbox d" t create --name d --network v7
check "d reaches the router over VLAN 7" sb d ping -c 1 -W 5 10.97.0.1
check "rm d and the network" t rm -f d
check "network rm v7" t network rm v7
refuse "up0.7 is gone with its network" "up0.7" ip -n "$LAB" link show up0.7
ip netns del router
ip netns del "$LAB"
