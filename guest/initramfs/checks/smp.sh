# skiff.check=smp: every CPU the VMM created is online. With skiff.cpus=N on
# the command line, exactly N must be online.
online=$(grep -c '^processor' /proc/cpuinfo)
want=
for w in $(cat /proc/cmdline); do
  case "$w" in skiff.cpus=*) want=${w#*=} ;; esac
done
echo "smp: $online online, possible $(cat /sys/devices/system/cpu/possible)"
[ -z "$want" ] || [ "$online" -eq "$want" ]
