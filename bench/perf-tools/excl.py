# excl.py FILE [N] [TOP]: exclusive Ir per function (callgrind format), per request if N given
import sys, re, collections
f = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 1; top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
names = {}; cost = collections.Counter(); fn = None; skip = False
def name(kind, s):
    m = re.match(r'\((\d+)\)(?: (.*))?', s)
    if not m: return s
    k = (kind, m.group(1))
    if m.group(2): names[k] = m.group(2)
    return names.get(k, s)
for line in open(f, errors='replace'):
    line = line.rstrip('\n')
    if line.startswith('fn='): fn = name('fn', line[3:]); continue
    if line.startswith(('cfn=', 'cfi=', 'cfl=', 'cob=')):
        if line.startswith('cfn='): name('fn', line[4:])
        continue
    if line.startswith('calls='): skip = True; continue
    if line and (line[0].isdigit() or line[0] in '+-*'):
        if skip: skip = False; continue
        parts = line.split()
        if len(parts) >= 2 and fn: cost[fn] += int(parts[1])
total = sum(cost.values())
print(f"total {total} per-req {total/n:.0f}")
for k, v in cost.most_common(top): print(f"{v/n:10.0f} {100*v/total:5.1f}%  {k[:150]}")
