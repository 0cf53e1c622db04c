# macvlan with parent=IFACE.VLAN: Tether makes the 802.1Q sub-interface, tagged traffic reaches a router namespace that
# has only its own VLAN sub-interface on the segment, and the sub-interface goes when the last network on it goes
# (one that existed before Tether is left alone).
. /kernel/lib.sh
lab
ns router
ip -n "$LAB" link add up0 type veth peer name down0 netns router
ip -n "$LAB" link set up0 up
inns router ip link set down0 up
inns router ip link add link down0 name down0.42 type vlan id 42
inns router ip addr add 10.93.0.1/24 dev down0.42
inns router ip link set down0.42 up

check "network create -d macvlan parent=up0.42" t network create -d macvlan -o parent=up0.42 \
  --subnet 10.93.0.0/24 --gateway 10.93.0.1 v42
contains "up0.42 is VLAN 42 of up0" "vlan protocol 802.1Q id 42" ip -n "$LAB" -d link show up0.42
contains "up0.42 is up" ",UP" ip -n "$LAB" link show up0.42
check "second network on the same sub-interface" t network create -d macvlan -o parent=up0.42 \
  --subnet 10.94.0.0/24 --gateway 10.94.0.1 v42b
check "sandbox a" t create --name a --network v42 --ip 10.93.0.10
check "sandbox b" t create --name b --network v42 --ip 10.93.0.11
contains "eth0 of a is a macvlan child" "macvlan mode bridge" sb a ip -d link show eth0
check "a reaches b" sb a ping -c 1 -W 5 10.93.0.11
check "a reaches the router's VLAN 42 address (tagged)" sb a ping -c 1 -W 5 10.93.0.1
check "the router reaches b over VLAN 42" inns router ping -c 1 -W 5 10.93.0.11
rx="$(rx_packets router down0.42)"
[ "$rx" -gt 0 ] && ok "the router's VLAN 42 sub-interface received $rx packets" || fail "no packets on down0.42"
lacks "no address on the router's untagged link" "inet " inns router ip addr show down0

check "rm" t rm -f a b
check "network rm v42" t network rm v42
check "up0.42 stays while v42b uses it" ip -n "$LAB" link show up0.42
check "network rm v42b" t network rm v42b
refuse "up0.42 is gone with the last network" "up0.42" ip -n "$LAB" link show up0.42
check "up0 itself stays" ip -n "$LAB" link show up0

ip -n "$LAB" link add link up0 name up0.43 type vlan id 43
check "network on a sub-interface made before Tether" t network create -d macvlan -o parent=up0.43 --subnet 10.95.0.0/24 v43
check "network rm v43" t network rm v43
check "up0.43, not Tether's, stays" ip -n "$LAB" link show up0.43
ip -n "$LAB" link add link up0 name up0.44 type vlan id 45
refuse "parent up0.44 that exists as VLAN 45: refused" "up0.44" t network create -d macvlan -o parent=up0.44 --subnet 10.96.0.0/24 x
ip netns del router
ip netns del "$LAB"
