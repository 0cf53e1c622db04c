# The kernel keeps one ipvlan mode and one flag per parent (the "port"), and each new child sets them for every child of that parent
# (drivers/net/ipvlan/ipvlan_main.c, ipvlan_link_new -> ipvlan_set_port_mode). So a second ipvlan network on the same
# parent with another mode or flag is refused; otherwise it would silently switch the first network's sandboxes.
. /kernel/lib.sh
lab
ns router
ip -n "$LAB" link add up0 type veth peer name down0 netns router
ip -n "$LAB" link set up0 up
check "l2 network on up0" t network create -d ipvlan -o parent=up0 -o ipvlan_mode=l2 --subnet 10.90.0.0/24 --gateway 10.90.0.1 n2
check "sandbox a on it" t create --name a --network n2
contains "a is in mode l2 bridge" "ipvlan  mode l2 bridge" sb a ip -d link show eth0
if t network create -d ipvlan -o parent=up0 -o ipvlan_mode=l3 --subnet 10.91.0.0/24 n3 >/dev/null 2>&1; then
  t create --name b --network n3 >/dev/null 2>&1 || true
  contains "a is still in mode l2 after an l3 network on the same parent" "ipvlan  mode l2 " sb a ip -d link show eth0
else ok "an l3 network on the parent of an l2 network is refused"; fi
if t network create -d ipvlan -o parent=up0 -o ipvlan_flag=private --subnet 10.92.0.0/24 np >/dev/null 2>&1; then
  t create --name c --network np >/dev/null 2>&1 || true
  contains "a is still bridge after a private network on the same parent" "ipvlan  mode l2 bridge" sb a ip -d link show eth0
else ok "a private network on the parent of a bridge network is refused"; fi
check "an l2 bridge network on the same parent is fine" t network create -d ipvlan -o parent=up0 --subnet 10.93.0.0/24 n2b
check "rm" t rm -f a b c
ip netns del router
ip netns del "$LAB"
