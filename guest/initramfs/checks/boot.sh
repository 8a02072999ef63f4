# skiff.check=boot: succeeds once init is reached (the boot itself is the test).
echo "boot: $(cat /proc/uptime | cut -d' ' -f1)s uptime, $(nproc) cpu(s), kernel $(uname -r)"
