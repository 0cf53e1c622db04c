# Tether's AOT binary works in the guest: a bridge network, two sandboxes that reach each other, removal.
. /kernel/lib.sh
lab
check "network create" t network create --subnet 10.81.0.0/24 front
check "sandbox a" t create --name a --network front --ip 10.81.0.10
check "sandbox b" t create --name b --network front --ip 10.81.0.11
check "a reaches b" sb a ping -c 1 -W 5 10.81.0.11
check "b reaches the gateway" sb b ping -c 1 -W 5 10.81.0.1
check "nft has table inet tether" inns "$LAB" nft list table inet tether
check "rm" t rm -f a b
check "network rm" t network rm front
ip netns del "$LAB"
