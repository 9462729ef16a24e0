#!/usr/bin/env bash
# Real NATs on one machine, in network namespaces (root; iproute2 and nftables). Usage: nat-lab.sh up|down TAG,
# or nat-lab.sh upnp TAG N DIR: runs miniupnpd (Debian's miniupnpd-nftables) on router rN, in the foreground
#   TAG-inet  a bridge: the "internet" (11.0.0.0/24)
#   TAG-boot  11.0.0.1  bootstrap + relay          TAG-pub  11.0.0.4  a public peer
#   TAG-rN    11.0.0.1N a home router, masquerading for TAG-hN (10.N.0.2 behind 10.N.0.1), N = 1..3
#             r1, r2: port-preserving masquerade (a usual home router); r3: "fully-random" ports, a symmetric NAT
# Nothing outside these namespaces is linked to them: their addresses exist only here and no packet can leave,
# so the "internet" may use addresses that libp2p takes for public ones (its reserved test ranges count as
# private, and then AutoNAT and DCUtR would ignore them).
set -euo pipefail
cmd=${1:?up or down}; T=${2:?tag}
HOMES=(1 2 3)

up() {
  ip netns add "$T-inet"
  ip -n "$T-inet" link add br0 type bridge
  ip -n "$T-inet" link set br0 up
  ip -n "$T-inet" link set lo up
  # a namespace on the internet: $1 name, $2 port name on the bridge, $3 address
  attach() {
    ip netns add "$T-$1"
    ip link add e0 netns "$T-$1" type veth peer name "$2" netns "$T-inet"
    ip -n "$T-inet" link set "$2" master br0 up
    ip -n "$T-$1" addr add "$3/24" dev e0
    ip -n "$T-$1" link set e0 up
    ip -n "$T-$1" link set lo up
  }
  attach boot pboot 11.0.0.1
  attach pub ppub 11.0.0.4
  for n in "${HOMES[@]}"; do
    attach "r$n" "pr$n" "11.0.0.1$n"
    ip netns add "$T-h$n"
    ip link add e0 netns "$T-h$n" type veth peer name in0 netns "$T-r$n"
    ip -n "$T-h$n" addr add "10.$n.0.2/24" dev e0
    ip -n "$T-r$n" addr add "10.$n.0.1/24" dev in0
    ip -n "$T-h$n" link set e0 up; ip -n "$T-h$n" link set lo up; ip -n "$T-r$n" link set in0 up
    ip -n "$T-h$n" route add default via "10.$n.0.1"
    ip netns exec "$T-r$n" sysctl -qw net.ipv4.ip_forward=1
    local how=masquerade
    [ "$n" = 3 ] && how='masquerade fully-random'
    ip netns exec "$T-r$n" nft -f - <<EOF
table ip nat {
  chain post { type nat hook postrouting priority 100; oifname "e0" $how; }
}
table ip filter {
  chain guard { type filter hook forward priority 0; policy drop;
    iifname "in0" accept
    ct state established,related accept
    ct status dnat accept
  }
}
EOF
  done
}

down() {
  for n in inet boot pub r1 r2 r3 h1 h2 h3; do
    # whatever still runs in our namespaces (a daemon a crashed test left) goes with them
    ip netns pids "$T-$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$T-$n" 2>/dev/null || true
  done
}

# A UPnP IGD on home router rN: it answers SSDP searches on the home side (in0) and maps ports on the
# internet side (e0) into the chains below (DNAT; the guard above lets DNATed connections through). Its own
# config, pid and lease files in DIR; no system service involved.
upnp() {
  local n=${1:?router number} dir=${2:?folder}
  ip netns exec "$T-r$n" nft -f - <<EOF
table inet fedit_upnp {
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
EOF
  cat >"$dir/miniupnpd-r$n.conf" <<EOF
ext_ifname=e0
listening_ip=in0
http_port=5000
enable_upnp=yes
enable_natpmp=yes
secure_mode=yes
system_uptime=yes
lease_file=$dir/miniupnpd-r$n.leases
upnp_table_name=fedit_upnp
upnp_nat_table_name=fedit_upnp
uuid=fed17000-0000-4000-8000-00000000000$n
allow 1024-65535 10.$n.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  exec ip netns exec "$T-r$n" miniupnpd -d -f "$dir/miniupnpd-r$n.conf" -P "$dir/miniupnpd-r$n.pid"
}


"$cmd" "${@:3}"
