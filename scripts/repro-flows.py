#!/usr/bin/env python3
# Reads a scripts/repro-reset.sh capture: the client connections that got no answer or saw a
# reset, and with -v every packet of those on every host (which director or server sent what).
import sys, re, datetime, collections
# usage: flows.py DIR [from HH:MM:SS to HH:MM:SS]
d = sys.argv[1]
lo = sys.argv[2] if len(sys.argv) > 2 else "00:00:00"
hi = sys.argv[3] if len(sys.argv) > 3 else "99"
mac = {"0b": "director1", "0c": "director2", "15": "real1", "16": "real2", "1f": "client"}
pat = re.compile(r'^(\d+\.\d+) (\S+) > (\S+), .*?: (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[(\S+)\](.*)$')
def load(host):
    flows = collections.defaultdict(list)
    old = {}
    for line in open(f"{d}/cap-{host}.txt"):
        m = pat.match(line)
        if not m: continue
        ts, smac, dmac, sip, sp, dip, dp, fl, rest = m.groups()
        t = datetime.datetime.fromtimestamp(float(ts)).strftime("%H:%M:%S.%f")[:-3]
        if sip.endswith(".31"): port = sp
        elif dip.endswith(".31"): port = dp
        else: continue
        ln = re.search(r'length (\d+)', rest)
        # A client port is reused: a SYN after the previous connection's FIN or RST starts a
        # new one.
        if sip.endswith(".31") and fl == "S" and flows[port] and any(("F" in q[4] or "R" in q[4]) for q in flows[port]):
            key = port + "@" + flows[port][0][0]
            old[key] = flows.pop(port)
        flows[port].append((t, mac.get(smac[-2:], smac), mac.get(dmac[-2:], dmac), sip + ":" + sp, fl, int(ln.group(1)) if ln else 0, rest.strip()[:60]))
    flows.update(old)
    return flows
cl = load("client")
bad = []
for port, pk in cl.items():
    if not (lo <= pk[0][0] <= hi): continue
    # a flow failed when the client received no data from the VIP (an answer followed by the
    # server's abortive close is no failure)
    got = any(p[3].startswith("198.51.100.100") and p[5] > 0 for p in pk)
    rst = any("R" in p[4] for p in pk)
    synack = any(p[3].startswith("198.51.100.100") and "S" in p[4] for p in pk)
    if not got:
        kind = "refused" if (rst and not synack) else ("reset" if rst else "nodata")
        bad.append((pk[0][0], port, kind))
bad.sort()
for t, port, kind in bad:
    print(t, port, kind)
if "-v" in sys.argv:
    others = {h: load(h) for h in ["director1", "director2", "real1", "real2"]}
    for t, port, kind in bad:
        if kind == "refused": continue
        print("=== port", port, kind)
        for h in ["client", "director1", "director2", "real1", "real2"]:
            src = cl if h == "client" else others[h]
            for p in src.get(port.split("@")[0], []):
                print("  %-9s %s %s>%s %s %s len %d" % (h, p[0], p[1], p[2], p[3], p[4], p[5]))
        # same port used earlier?
