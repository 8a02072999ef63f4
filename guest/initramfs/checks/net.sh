# skiff.check=net: a virtio-net interface exists and comes up. Addresses come
# from the kernel's ip= parameter (CONFIG_IP_PNP) when the host gives one.
[ -e /sys/class/net/eth0 ] || { echo "net: no eth0"; exit 1; }
ip link set lo up
ip link set eth0 up || exit 1
echo "net: eth0 $(cat /sys/class/net/eth0/address) driver $(basename "$(readlink /sys/class/net/eth0/device/driver)")"
ip -4 addr show eth0 | grep inet
true
