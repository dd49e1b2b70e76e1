#!/usr/bin/env bash
# The demo: sdc's main job on its defaults (store /var/lib/sdc, created on first use).
# Run by `./dev demo`, inside the systemd test host where PID 1 is not systemd.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
export PATH="$here/../.venv/bin:$PATH"
# Each command printed as it can be pasted: words with spaces or quotes in single quotes.
quoted() {
    local word out=()
    for word in "$@"; do
        if [[ $word =~ ^[][A-Za-z0-9_./:=@%+,{}-]+$ ]]; then out+=("$word"); else out+=("'${word//\'/\'\\\'\'}'"); fi
    done
    printf '%s' "${out[*]}"
}
step() { printf '\n\033[1m$ %s\033[0m\n' "$(quoted "$@")"; "$@"; }
# A pipeline, printed as it is typed
pipe() { printf '\n\033[1m$ %s\033[0m\n' "$1"; bash -o pipefail -c "$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A tiny real image: a static busybox and its applet links.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -s busybox "$work/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -czf "$work/busybox.tar.gz" .

sdc rm -f web >/dev/null 2>&1 || true
step sdc import "$work/busybox.tar.gz" busybox
step sdc images
step sdc run --rm busybox echo "hello from a container"
step sdc run --rm busybox sh -c 'echo "PID $$ on $(hostname), capabilities $(grep CapBnd /proc/self/status)"'
step sdc run --rm -e GREETING=hi busybox env     # Docker's environment, and systemd's container=
step sdc run --rm busybox sh -c 'grep Seccomp: /proc/self/status; unshare -U true || echo "no user namespace for a container"'
# --userns=auto takes ids from sdc's lines in /etc/subuid and /etc/subgid (the test host's own copy here)
for f in /etc/subuid /etc/subgid; do grep -qs '^sdc:' "$f" || echo 'sdc:2147483648:2147483648' >> "$f"; done
step sdc run --rm --userns=auto busybox \
    sh -c 'echo "root inside (uid $(id -u)) is uid $(awk "{print \$2}" /proc/self/uid_map) outside"'
step sdc run -d --name web -m 64m --pids-limit 50 -c 512 busybox \
    sh -c 'trap "echo stopping cleanly; exit 0" TERM; echo started; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done'
sleep 2
step sdc ps
step machinectl list --no-pager   # every running container is a machine: machinectl status, login, terminate
step systemctl status sdc-web.service --no-pager
step journalctl -u sdc-web.service --no-pager
step systemctl show sdc-web.service -p MemoryMax -p TasksMax -p CPUWeight
step sdc stats --no-stream web   # systemd's accounting of its unit
step sdc top web                 # its processes: the host's PID and its own
# its own cgroup, read-only, where runtimes read the limits they size themselves by
step sdc exec web sh -c 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes'
step sdc exec -e WHO=exec -u 65534 web sh -c 'echo "$WHO as uid $(id -u) beside PID 1: $(tr "\0" " " < /proc/1/cmdline | cut -c1-40)"; exit 3' || echo "exit status $?"
step sdc exec web sh -c 'echo "written before the stop" > /kept'
step sdc logs --tail 3 web
step sdc pause web
step sdc ps
step sdc unpause web
step sdc stop web    # SIGTERM to the container's PID 1, which handles it (a bare PID 1 would get SIGKILL after 10 s)
step sdc ps -a
step sdc logs --tail 2 web
step sdc start web   # a fresh unit over the same files
step sdc exec web cat /kept
step sdc stop -t 1 web
step sdc rm web
step sdc run -d --name db --restart always --enable busybox sleep 1d   # back after a reboot
step systemctl is-enabled sdc@db.service
pipe "systemctl cat sdc@db.service --no-pager | sed -n '/50-sdc.conf/,\$p' | head -30"   # its drop-in: its settings
step sdc rm -f db
# On sdc's default network (a bridge, NAT out): its port 80 published on the host's 8080
step sdc run -d --name www -p 8080:80 busybox \
    sh -c 'mkdir /www && echo "served from a container" > /www/index.html && exec httpd -f -p 80 -h /www'
step sdc exec www ip -4 -o addr show eth0
step python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8080/", timeout=5).read().decode(), end="")'
                                                     # the host's loopback, forwarded by netavark's rules
step sdc port www
# A network of one's own, where containers find each other by name and alias (aardvark-dns)
step sdc network create appnet
step sdc run -d --name db --network appnet --network-alias database busybox sleep 1000
step sdc run --rm --network appnet busybox nslookup database
# A running container joins it (eth1 at once) and leaves it
step sdc network connect appnet www
step sdc exec www ip -4 -o addr
step sdc exec db wget -qO- http://www/
step sdc network disconnect appnet www
step sdc network rm -f appnet
step sdc rm -f www
# A distribution booting its own systemd: a Debian made from this host's installed packages (no mirror)
"$here/../.venv/bin/python" -c 'import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path
from tests.integration import debian; debian.minbase_tar(Path(sys.argv[2]), extra=("systemd", "systemd-sysv", "dbus"))' \
    "$here/.." "$work/debian-systemd.tar"
sdc rm -f deb >/dev/null 2>&1 || true
step sdc import "$work/debian-systemd.tar" debian-systemd
step sdc run -d --name deb debian-systemd /sbin/init   # returns once its systemd says READY=1
step sdc exec deb systemctl is-system-running
step systemd-cgls --no-pager -u sdc-deb.service       # its units, in its own subtree of the container's unit
step sdc stop deb                                      # SIGRTMIN+3: it stops its units and halts
step sdc ps -a
step sdc rm deb
step sdc rmi debian-systemd
# Data that outlives its container: a volume of the store's (a btrfs subvolume), and files copied both ways
step sdc run --rm -v notes:/notes busybox sh -c 'echo "kept in a volume" > /notes/first'
step sdc run --rm -v notes:/notes:ro --read-only --tmpfs /scratch:size=1m busybox \
    sh -c 'cat /notes/first; touch /notes/x 2>/dev/null || echo "the volume is read-only here, and so is /"; df -h /scratch | tail -1'
step sdc volume ls
step sdc volume inspect notes
step sdc run --name fg busybox sh -c 'echo "a foreground container: its output is in the journal too"'
step sdc logs -t fg
echo "from the host" > "$work/hello.txt"
step sdc cp "$work/hello.txt" fg:/tmp/
step sdc cp fg:/tmp/hello.txt "$work/back.txt"
step cat "$work/back.txt"
step sdc rm fg
step sdc events --since 1m --until now --filter container=fg   # its life, from the journal
step sdc volume rm notes
step sdc create --name job busybox sh -c 'date >> /log; wc -l < /log'
step sdc start -a job
step sdc start -a job   # the second run sees the first one's line
step sdc rm job
# A container declared as a unit file (Quadlet's .container): sdc's generator makes hello.service of it
step sdc quadlet --install-generator   # (the Debian package installs it itself)
mkdir -p /etc/sdc/systemd
cat > /etc/sdc/systemd/hello.container <<'END'
[Unit]
Description=hello, declared in a Quadlet file
[Container]
Image=busybox
PublishPort=8081:80
Environment=GREETING="served by a unit file"
Exec=sh -c 'mkdir /www && echo "$$GREETING" > /www/index.html && exec httpd -f -p 80 -h /www'
[Install]
WantedBy=multi-user.target
END
step cat /etc/sdc/systemd/hello.container
pipe "sdc quadlet --dryrun | grep -E '^(---|Exec|Kill|Device|Requires)'"
step systemctl daemon-reload
step systemctl start hello.service
step systemctl status hello.service --no-pager
step python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8081/", timeout=5).read().decode(), end="")'
step sdc ps
step systemctl stop hello.service   # and its container goes with it (Podman's --rm --replace)
step sdc ps -a
rm /etc/sdc/systemd/hello.container
sdc quadlet --remove-generator
systemctl daemon-reload
# A pod: two containers sharing a network (127.0.0.1), IPC and a hostname, the port published on the
# pod; its namespaces are held by bind mounts, with no process of sdc's
step sdc pod create --name shop -p 8082:80
step sdc run -d --pod shop --name front busybox \
    sh -c 'mkdir /www && echo "served in a pod" > /www/index.html && exec httpd -f -p 80 -h /www'
step sdc run -d --pod shop --name probe busybox sleep 1000
step sdc exec probe wget -qO- http://127.0.0.1/
step python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8082/", timeout=5).read().decode(), end="")'
step sdc ps --pod
step sdc pod ls
step systemd-cgls --no-pager -u 'machine-sdc-pod_shop.slice'
step systemctl stop sdc-shop-pod.target   # both containers stop, and the pod's namespaces go
step sdc pod ls
step sdc pod rm -f shop

# Images: change a container, see and commit the change, push it to a registry and pull it into
# another store. The registry is Debian's docker-registry on 127.0.0.1 only (its packaged config
# listens on every interface: never used here).
port=5555
printf '{"version": 0.1, "log": {"level": "error"}, "http": {"addr": "127.0.0.1:%s"}, "storage": {"filesystem": {"rootdirectory": "%s"}}}\n' \
    "$port" "$work/registry" > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null; umount "$work/other-store/storage" 2>/dev/null; rm -rf "$work"' EXIT
step sdc run --name edit busybox sh -c 'echo "made in a container" > /etc/motd; rm /bin/vi'
step sdc diff edit
step sdc commit -m 'a motd, no vi' -c 'CMD ["cat", "/etc/motd"]' edit busybox:motd
step sdc history busybox:motd
step sdc push busybox:motd "127.0.0.1:$port/demo/busybox:motd"
step sdc --root "$work/other-store" pull "127.0.0.1:$port/demo/busybox:motd"
step sdc --root "$work/other-store" run --rm "127.0.0.1:$port/demo/busybox:motd"
step sdc --root "$work/other-store" rmi "127.0.0.1:$port/demo/busybox:motd"
step sdc rm edit
# Building an image from a Containerfile: each step a layer over a snapshot of the one before, the
# steps cached by what they read; a multi-stage build keeps only its last stage's layers
mkdir -p "$work/app"
cat > "$work/app/Containerfile" <<'END'
FROM busybox:motd AS build
WORKDIR /src
COPY greeting.txt .
RUN --mount=type=cache,target=/cache tr a-z A-Z < greeting.txt | tee /cache/last > loud.txt
FROM busybox
COPY --from=build /src/loud.txt /etc/motd /srv/
CMD ["cat", "/srv/loud.txt", "/srv/motd"]
END
echo "built by sdc" > "$work/app/greeting.txt"
step cat "$work/app/Containerfile"
step sdc build --network none -t demo/app:1 "$work/app"
step sdc build --network none -t demo/app:1 "$work/app"   # again: every step CACHED
step sdc run --rm demo/app:1
step sdc images                                          # (the build's intermediate images: sdc images -a)
step sdc rmi demo/app:1
step sdc builder prune -f
step sdc rmi busybox:motd busybox
