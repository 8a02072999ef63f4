# skiff.check=rng: the virtio-rng device is the current hwrng and yields data.
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
echo "rng: current $cur"
case "$cur" in virtio_rng*) ;; *) exit 1 ;; esac
n=$(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | wc -c)
echo "rng: read $n bytes"
[ "$n" -eq 64 ]
