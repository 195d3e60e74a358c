"""Processes, /proc sampling, host contention and wrk, for bench.py (stdlib only).

Everything here talks to 127.0.0.1 only, and every process it starts is stopped
by the PID it recorded (never by name).
"""
import http.client
import json
import os
import resource
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- HTTP client
class Client:
    """Small keep-alive HTTP/1.1 client for seeding and probes (not for load)."""

    def __init__(self, port, timeout=120):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if isinstance(body, str):
            body = body.encode()
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                hdrs = r.getheaders()
                if (r.getheader("connection") or "").lower() == "close":
                    self.close()
                return r.status, hdrs, data
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, obj=None, headers=None):
        h = dict(headers or {})
        body = None
        if obj is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(obj)
        status, hdrs, data = self.request(method, path, body, h)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, hdrs, parsed

    def form(self, method, path, fields, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request(method, path, urllib.parse.urlencode(fields), h)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def header(hdrs, name):
    return [v for k, v in hdrs if k.lower() == name.lower()]


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- /proc
def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
                kids.setdefault(int(s[s.rindex(")") + 2:].split()[1]), []).append(int(d))
            except (OSError, ValueError):
                pass
    return kids


def tree_pids(root):
    kids, out, stack = _children_map(), [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def proc_stats(pid):
    """(rss_bytes, cpu_seconds, starttime, state, threads) or None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                    break
        return rss, cpu, int(fields[19]), fields[0], int(fields[17])
    except (OSError, ValueError, IndexError):
        return None


class TreeSampler(threading.Thread):
    """Samples the summed RSS and CPU time of a process tree every `interval` s."""

    def __init__(self, root, interval=0.1):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.lock = threading.Lock()
        self.window_peak = self.overall_peak = 0
        self.window_threads = 0
        self.seen = {}  # pid -> starttime (guards against PID reuse)
        self.cpu = {}
        self.stop_evt = threading.Event()

    def sample(self):
        total, threads = 0, 0
        for p in tree_pids(self.root):
            st = proc_stats(p)
            if st is None:
                continue
            with self.lock:
                self.seen.setdefault(p, st[2])
                self.cpu[p] = st[1]
            total += st[0]
            threads += st[4]
        with self.lock:
            self.window_peak = max(self.window_peak, total)
            self.overall_peak = max(self.overall_peak, total)
            self.window_threads = max(self.window_threads, threads)
        return total

    def run(self):
        while not self.stop_evt.is_set():
            self.sample()
            self.stop_evt.wait(self.interval)

    def reset_window(self):
        with self.lock:
            self.window_peak = 0
            self.window_threads = 0

    def cpu_seconds(self):
        self.sample()
        with self.lock:
            return sum(self.cpu.values())


def host_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / CLK_TCK


def own_cpu():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime


class CpuMeter:
    """Splits host CPU over an interval into server / wrk / harness / other processes."""

    def __init__(self, sampler):
        self.sampler = sampler

    def snap(self):
        me, kids = own_cpu()
        return {"t": time.time(), "busy": host_busy(), "self": me, "kids": kids,
                "server": self.sampler.cpu_seconds()}

    @staticmethod
    def delta(a, b):
        d = {k: b[k] - a[k] for k in a}
        wall = max(d["t"], 1e-6)
        other = max(0.0, d["busy"] - d["server"] - d["kids"] - d["self"])
        return {"wall_s": round(wall, 2), "server_cores": round(d["server"] / wall, 2),
                "server_cpu_s": round(d["server"], 3), "wrk_cores": round(d["kids"] / wall, 2),
                "harness_cores": round(d["self"] / wall, 2), "other_cores": round(other / wall, 2)}

    def wait_quiet(self, threshold, max_wait):
        """Waits (bounded) until other processes use < threshold cores over 1 s."""
        t0 = time.time()
        while True:
            a = self.snap()
            time.sleep(1.0)
            other = self.delta(a, self.snap())["other_cores"]
            if other < threshold or time.time() - t0 >= max_wait:
                return {"waited_s": round(time.time() - t0, 1), "other_cores": other,
                        "quiet": other < threshold}


# --------------------------------------------------------------------------- servers
def _nicer(n):
    return (lambda: os.nice(n)) if n else None


def set_autogroup_nice(pid, n):
    """With CONFIG_SCHED_AUTOGROUP the scheduler shares CPU fairly between sessions, so a
    process's own nice value only counts inside its session. Server and wrk each run in a
    session of their own; this sets that session's nice too (negative values need root)."""
    if not n:
        return None
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(n))
        return n
    except OSError as e:
        return f"unavailable: {e}"


class Server:
    """A server process in its own session; stopped by its recorded PIDs only."""

    def __init__(self, name, cmd, env, cwd, log_path, nice=0):
        self.name, self.cmd, self.env, self.cwd, self.log_path = name, cmd, env, cwd, log_path
        self.nice = nice
        self.proc = self.sampler = self.log = None

    def start(self, port, ready_path, timeout=90):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_nicer(self.nice))
        self.autogroup = set_autogroup_nice(self.proc.pid, self.nice)
        self.sampler = TreeSampler(self.proc.pid)
        self.sampler.start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early (rc={self.proc.returncode}); "
                                   f"see {self.log_path}")
            try:
                c = http.client.HTTPConnection(HOST, port, timeout=2)
                c.request("GET", ready_path)
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    def wait_idle(self, max_wait=60, threshold=0.05):
        """Waits until the tree uses < threshold cores (queued work such as bcrypt drained)."""
        t0 = time.time()
        last = self.sampler.cpu_seconds()
        while time.time() - t0 < max_wait:
            time.sleep(0.5)
            cur = self.sampler.cpu_seconds()
            if cur - last < threshold * 0.5:
                break
            last = cur
        return round(time.time() - t0, 1)

    def stop(self):
        if self.proc is None:
            return {}
        self.sampler.sample()
        pids = dict(self.sampler.seen)
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        killed = []
        deadline = time.time() + 10
        def alive(p):
            st = proc_stats(p)
            return st is not None and st[2] == pids[p] and st[3] != "Z"
        others = [p for p in pids if p != self.proc.pid]
        while time.time() < deadline and any(alive(p) for p in others):
            time.sleep(0.2)
        for p in others:
            if alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                    killed.append(p)
                except ProcessLookupError:
                    pass
        self.sampler.stop_evt.set()
        self.log.close()
        rc = self.proc.returncode
        self.proc = None
        return {"exit_code": rc, "peak_rss_bytes": self.sampler.overall_peak, "killed": killed}


# --------------------------------------------------------------------------- wrk
LUA_DONE = r"""
function done(summary, latency, requests)
  local pct = {}
  for _, p in ipairs({50, 75, 90, 99, 99.9}) do
    table.insert(pct, string.format('"%s":%d', tostring(p), latency:percentile(p)))
  end
  io.write(string.format(
    'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"pct":{%s}}}\n',
    summary.duration, summary.requests, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency.min, latency.max, latency.mean, table.concat(pct, ",")))
end
"""


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lua_headers(headers):
    return "{" + ", ".join(f"[{lua_str(k)}] = {lua_str(v)}" for k, v in headers.items()) + "}"


def lua_fixed(req, delay_ms=0):
    """A script that sends one fixed request (wrk pre-builds it: cheapest for wrk)."""
    lines = [f"wrk.method = {lua_str(req['method'])}"]
    if req.get("body"):
        lines.append(f"wrk.body = {lua_str(req['body'])}")
    for k, v in (req.get("headers") or {}).items():
        lines.append(f"wrk.headers[{lua_str(k)}] = {lua_str(v)}")
    if delay_ms:
        lines.append(f"function delay() return {int(delay_ms)} end")
    return "\n".join(lines) + "\n" + LUA_DONE


def lua_weighted(choices, seed=1):
    """A script that picks one of several requests per call.

    `choices` is a list of (weight, [req, ...]); within a choice the requests are
    sent round-robin (e.g. PATCH bodies that alternate). Each req may carry
    {"path", "method", "headers", "body"}.
    """
    total = sum(w for w, _ in choices)
    out = [f"math.randomseed({int(seed)})", "local reqs = {}", "local cum = {}", "local idx = {}"]
    acc = 0
    for i, (w, reqs) in enumerate(choices, 1):
        acc += w
        out.append(f"cum[{i}] = {acc / total!r}")
        out.append(f"idx[{i}] = 0")
        items = []
        for r in reqs:
            body = lua_str(r["body"]) if r.get("body") else "nil"
            items.append("wrk.format(%s, %s, %s, %s)" % (
                lua_str(r["method"]), lua_str(r["path"]), lua_headers(r.get("headers") or {}), body))
        out.append(f"reqs[{i}] = {{}}")
        out.append(f"function build_{i}() local t = {{}}; " +
                   " ".join(f"t[{j}] = {item};" for j, item in enumerate(items, 1)) +
                   f" reqs[{i}] = t end")
    out.append("function init(args) " + " ".join(f"build_{i}()" for i in range(1, len(choices) + 1)) + " end")
    out.append("""
function request()
  local r = math.random()
  local k = #cum
  for i = 1, #cum do if r <= cum[i] then k = i; break end end
  local list = reqs[k]
  idx[k] = idx[k] % #list + 1
  return list[idx[k]]
end
""")
    return "\n".join(out) + "\n" + LUA_DONE


class Wrk:
    """One wrk process; start() then result() (so several can run at once)."""

    def __init__(self, workdir, tag, port, script, path, conns, duration, threads=1, timeout=30, nice=0):
        self.nice = nice
        self.lua = os.path.join(workdir, f"{tag}.lua")
        with open(self.lua, "w") as f:
            f.write(script)
        t = max(1, min(threads, conns))
        self.cmd = ["wrk", "-t", str(t), "-c", str(conns), "-d", f"{duration}s",
                    "--timeout", f"{timeout}s", "-s", self.lua, f"http://{HOST}:{port}{path}"]
        self.limit = duration + timeout + 30
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=bool(self.nice), preexec_fn=_nicer(self.nice))
        set_autogroup_nice(self.proc.pid, self.nice)
        return self

    def result(self):
        try:
            out, err = self.proc.communicate(timeout=self.limit)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise
        for line in out.splitlines():
            if line.startswith("WRKJSON "):
                js = json.loads(line[len("WRKJSON "):])
                js["cmd"] = " ".join(shlex.quote(c) for c in self.cmd)
                return js
        raise RuntimeError(f"wrk printed no result (rc={self.proc.returncode}):\n{out}\n{err}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
