# load.py URL BODYFILE KEY N CONNS: N POST requests over CONNS keep-alive connections; prints ok count
import sys, threading, http.client, urllib.parse
url, bodyf, key, n, conns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlparse(url); body = open(bodyf, 'rb').read()
ok = [0]; bad = [0]; lock = threading.Lock()
def worker(count):
    c = http.client.HTTPConnection(u.hostname, u.port)
    for _ in range(count):
        c.request('POST', u.path, body, {'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'})
        r = c.getresponse(); r.read()
        with lock:
            if r.status == 200: ok[0] += 1
            else: bad[0] += 1
ts = [threading.Thread(target=worker, args=(n // conns,)) for _ in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]
print(ok[0], bad[0])
