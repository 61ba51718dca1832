"""The pieces of a fault run: a private Kafka broker, `bps node` processes, the load
generator, HTTP clients, and the judges (the load generator's invariants, `bps replay
--verify` with every node's state store, and HTTP answers against the committed log).

Standard library only: it runs wherever the project's tests run.
"""

import http.client
import json
import os
import random
import re
import signal
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RunFailed(Exception):
    """A run could not be carried out (not a violation: the harness itself failed)."""


def wait_for(what, predicate, timeout, interval=0.1):
    """Polls `predicate` until it returns something truthy; raises RunFailed after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RunFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def process_state(pid):
    """The state letter of a process from /proc (R, S, T for stopped, Z, ...), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


class Broker:
    """A private single-node Kafka broker run by deploy/local/kafka, which the harness
    may kill and restart."""

    def __init__(self, port, data):
        self.port = port
        self.data = data
        self.bootstrap = f"127.0.0.1:{port}"
        self.env = dict(os.environ, BPS_KAFKA_PORT=str(port), BPS_KAFKA_DATA=data)

    def _script(self, verb, timeout=180):
        r = subprocess.run([os.path.join(ROOT, "deploy/local/kafka"), verb], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RunFailed(f"deploy/local/kafka {verb} failed: {r.stdout}{r.stderr}")
        return r.stdout

    def start(self):
        self._script("start")

    def stop(self):
        self._script("stop")

    def pids(self):
        r = subprocess.run(["pgrep", "-f", "--", f"-Dbps.kafka.instance={self.data} "],
                           capture_output=True, text=True)
        return [int(p) for p in r.stdout.split()]

    def kill(self):
        """kill -9: the broker dies without closing anything."""
        for pid in self.pids():
            os.kill(pid, signal.SIGKILL)
        wait_for("the broker to die", lambda: not self.pids(), 30)

    def reset(self):
        self._script("reset")


class Node:
    """One `bps node` process (restartable with the same id and state directory)."""

    def __init__(self, run, node_id, args=(), http=False, state_dir=None):
        self.run = run
        self.node_id = node_id
        self.args = list(args)
        self.http = http
        self.state_dir = state_dir
        self.log_path = os.path.join(run.dir, f"{node_id}.log")
        self.proc = None
        self.starts = 0
        self._log_start = 0  # where the current incarnation's log begins
        self.exits = []      # exit codes of earlier incarnations
        self.expected_exit = False  # the harness killed or stopped it

    def command(self):
        cmd = [self.run.bps, "node", "--bootstrap", self.run.bootstrap, "--topic-prefix",
               self.run.prefix, "--partitions", str(self.run.partitions), "--node-id",
               self.node_id, "--http", "127.0.0.1:0" if self.http else "off"]
        if self.http:
            cmd += ["--http-auth", "off"]
        if self.state_dir:
            cmd += ["--state-dir", self.state_dir]
        return cmd + self.args

    def start(self, extra=()):
        if self.alive():
            raise RunFailed(f"{self.node_id} is already running")
        self.starts += 1
        with open(self.log_path, "a") as f:
            f.write(f"=== harness: start #{self.starts}: {' '.join(self.command() + list(extra))}\n")
            self._log_start = f.tell()
        log = open(self.log_path, "a")
        self.expected_exit = False
        self.proc = subprocess.Popen(self.command() + list(extra), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def paused(self):
        """True if the process is stopped (SIGSTOP, or a fault that stopped itself)."""
        return self.alive() and process_state(self.proc.pid) == "T"

    def kill(self):
        self.expected_exit = True
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.exits.append(self.proc.returncode)

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit code, or None if it had to be killed."""
        if not self.alive():
            return self.proc.returncode if self.proc else 0
        self.expected_exit = True
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.run.violation(f"{self.node_id} did not stop within {timeout} s of SIGTERM")
            self.kill()
            return None
        self.exits.append(rc)
        return rc

    def log(self, current_only=False):
        try:
            with open(self.log_path) as f:
                if current_only:
                    f.seek(self._log_start)
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout, current_only=True):
        rx = re.compile(pattern)
        def found():
            if self.proc is not None and self.proc.poll() is not None:
                raise RunFailed(f"{self.node_id} exited ({self.proc.returncode}) while waiting "
                                f"for /{pattern}/: {self.log(True)[-1500:]}")
            return rx.search(self.log(current_only))
        return wait_for(f"{self.node_id} to log /{pattern}/", found, timeout)

    def fired(self, pattern):
        """True if the node's log (every incarnation) matches `pattern`."""
        return re.search(pattern, self.log()) is not None

    def http_port(self):
        m = self.wait_log(r"HTTP on http://127\.0\.0\.1:(\d+)/", 60)
        return int(m.group(1))

    def wait_ready(self, timeout=90):
        """Waits until the node has partitions (and, with HTTP, answers /readyz)."""
        if self.http:
            port = self.http_port()
            wait_for(f"{self.node_id} to be ready",
                     lambda: http_request(port, "GET", "/readyz", timeout=2)[0] == 200, timeout,
                     interval=0.2)
        else:
            self.wait_log(r"partitions assigned|caught up", timeout)


def http_request(port, method, path, body=None, headers=None, timeout=30):
    """One request on its own connection: (status, parsed JSON body or text), or
    (None, reason) if no complete answer came."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        raw = resp.read().decode(errors="replace")
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw
    except (OSError, http.client.HTTPException) as e:
        return None, f"{type(e).__name__}: {e}"
    finally:
        conn.close()


class Loadgen:
    """bps-loadgen in the background: inserts the items, then purchases (and restocks)
    at a rate; exits 0 only if every purchase got exactly one outcome and no item was
    oversold."""

    def __init__(self, run, items, stock, purchases, rate, restock_every=0, timeout_s=240,
                 insert=True):
        self.run = run
        self.json_path = os.path.join(run.dir, "loadgen.json")
        self.log_path = os.path.join(run.dir, "loadgen.log")
        cmd = [run.loadgen, "--bootstrap", run.bootstrap, "--topic-prefix", run.prefix,
               "--items", str(items), "--stock", str(stock), "--purchases", str(purchases),
               "--rate", str(rate), "--restock-every", str(restock_every), "--timeout-s",
               str(timeout_s), "--json", self.json_path, "--label", run.name]
        if insert:
            cmd.append("--insert")
        self.started = time.monotonic()
        self.duration = purchases / rate if rate > 0 else 0
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

    def inserted(self):
        with open(self.log_path) as f:
            return "items inserted" in f.read()

    def wait_inserted(self, timeout=120):
        def done():
            if self.proc.poll() is not None and not self.inserted():
                raise RunFailed(f"loadgen exited ({self.proc.returncode}) before inserting: "
                                f"{open(self.log_path).read()[-1500:]}")
            return self.inserted()
        wait_for("the loadgen to insert its items", done, timeout)
        self.sending_since = time.monotonic()

    def finish(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.run.violation(f"the load generator did not finish within {timeout:.0f} s")
            return None
        text = open(self.log_path).read()
        result = None
        if os.path.exists(self.json_path):
            with open(self.json_path) as f:
                result = json.load(f)
        if rc != 0:
            self.run.violation(f"load generator (exit {rc}): {text.strip()[-600:]}")
        self.run.figures["loadgen"] = result
        return result


class Run:
    """One randomized run of one scenario: its own topics (prefix), nodes, load and
    judges. Scenarios call `violation()` for what breaks a promise."""

    def __init__(self, harness, scenario, index, seed, rng):
        self.h = harness
        self.scenario = scenario
        self.index = index
        self.seed = seed
        self.rng = rng
        self.name = f"{scenario}#{index}"
        self.prefix = f"f{seed}r{index}."
        self.dir = os.path.join(harness.work, f"run-{index:04d}-{scenario}")
        os.makedirs(self.dir, exist_ok=True)
        self.bootstrap = harness.broker.bootstrap
        self.bps = harness.bps
        self.loadgen = harness.loadgen_exe
        self.partitions = rng.choice([3, 4, 6])
        self.nodes = []
        self.violations = []
        self.notes = []
        self.figures = {}
        self.http_answers = []  # (request, status, body)
        # A client without an answer is a violation (clean stops), not an expected loss
        # (a node killed under the client).
        self.require_answers = False
        # (node, pattern, what): log lines that prove the scenario's fault happened.
        self.expected_logs = []
        self._lock = threading.Lock()

    # -- reporting --------------------------------------------------------------

    def violation(self, text):
        with self._lock:
            self.violations.append(text)
        self.h.say(f"  VIOLATION {self.name}: {text}")

    def note(self, text):
        self.notes.append(text)
        self.h.say(f"  {self.name}: {text}")

    # -- set-up -----------------------------------------------------------------

    def bps_cmd(self, *args, timeout=120, check=True):
        r = subprocess.run([self.bps, *args, "--bootstrap", self.bootstrap, "--topic-prefix",
                            self.prefix], capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RunFailed(f"bps {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def ensure_topics(self):
        self.bps_cmd("topics", "ensure", "--partitions", str(self.partitions), timeout=60)

    def delete_topics(self):
        self.bps_cmd("topics", "delete", "--yes", "--timeout-ms", "60000", timeout=90)

    def expect_log(self, node, pattern, what):
        # A list of nodes: in at least one of them (a node, or a lane of one, may own only
        # partitions without load, and then decides nothing).
        self.expected_logs.append((list(node) if isinstance(node, (list, tuple)) else [node],
                                   pattern, what))

    def node(self, node_id, args=(), http=False, state=False):
        state_dir = os.path.join(self.dir, f"state-{node_id}") if state else None
        args = list(args)
        if "--lanes" not in args:
            # Its own generator: the scenario's draws stay those of a run without lanes.
            lanes = (random.Random(f"{self.seed}-{self.index}-{node_id}-lanes").choice([1, 2])
                     if self.h.lanes == "random" else int(self.h.lanes))
            args += ["--lanes", str(lanes)]
            if lanes != 2:  # the node's default
                self.note(f"{node_id} runs {lanes} processing lane(s)")
        n = Node(self, node_id, args, http, state_dir)
        self.nodes.append(n)
        return n

    # -- judges -----------------------------------------------------------------

    def replay(self, *extra, timeout=300):
        return self.bps_cmd("replay", *extra, "--timeout-ms", "30000", timeout=timeout,
                            check=False)

    def undecided(self):
        r = self.replay("--allow-undecided")
        m = re.search(r"undecided:\s+(\d+)", r.stdout)
        if r.returncode != 0 or not m:
            raise RunFailed(f"bps replay failed ({r.returncode}): {r.stdout}{r.stderr}")
        return int(m.group(1))

    def wait_all_decided(self, timeout=180):
        """Waits until the log holds an outcome for every request."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.undecided()
            if left == 0:
                return
            if time.monotonic() >= deadline:
                self.violation(f"{left} request(s) still without an outcome {timeout} s after "
                               f"the faults ended")
                return
            time.sleep(1)

    def verify(self):
        """bps replay --verify, once with every node's state store (or once without)."""
        dirs = [n.state_dir for n in self.nodes if n.state_dir and os.path.isdir(n.state_dir)]
        for d in dirs or [None]:
            r = self.replay("--verify", *(["--state-dir", d] if d else []))
            self.figures.setdefault("replay", r.stdout.strip().splitlines()[:4])
            if r.returncode != 0:
                found = [l.strip()[2:] for l in r.stdout.splitlines() if l.startswith("  - ")]
                where = f" (state store {os.path.basename(d)})" if d else ""
                for v in found or [f"replay --verify exited {r.returncode}: {r.stderr.strip()}"]:
                    self.violation(f"replay --verify{where}: {v}")

    def committed_purchases(self):
        """Every purchase record of the committed log, in order (kcat, read_committed)."""
        out = {}
        r = subprocess.run(["kcat", "-C", "-b", self.bootstrap, "-t", self.prefix + "purchases",
                            "-o", "beginning", "-e", "-q", "-X", "isolation.level=read_committed",
                            "-f", "%s\n"], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RunFailed(f"kcat failed: {r.stderr}")
        for line in r.stdout.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            out.setdefault(rec.get("purchaseId"), []).append(rec)
        return out

    def check_http_answers(self):
        """Every 200/201 answer agrees with the committed log; every request got an answer."""
        if not self.http_answers:
            return
        log = self.committed_purchases()
        checked = 0
        for request, status, body in self.http_answers:
            if status is None and self.require_answers:
                self.violation(f"a client got no answer to {request['what']}: {body}")
                continue
            if status is None or status not in (200, 201) or not isinstance(body, dict) \
                    or "purchaseStatus" not in body:
                continue
            checked += 1
            pid = body.get("purchaseId")
            outcomes = [r for r in log.get(pid, []) if r.get("purchaseStatus") != "CREATED"]
            if len(outcomes) != 1:
                self.violation(f"answer {status} for purchase {pid} but the log holds "
                               f"{len(outcomes)} outcome(s)")
                continue
            o = outcomes[0]
            for field in ("purchaseStatus", "itemId", "quantity", "purchasedBy"):
                if body.get(field) != o.get(field):
                    self.violation(f"answer {status} for purchase {pid} says {field}="
                                   f"{body.get(field)!r}, the log says {o.get(field)!r}")
            sent = request.get("body") or {}
            for field in ("itemId", "quantity", "purchasedBy"):
                if field in sent and sent[field] != body.get(field):
                    self.violation(f"a client asked {field}={sent[field]!r} and was answered "
                                   f"with purchase {pid} of {field}={body.get(field)!r}")
        self.figures["http_answers_checked"] = checked

    def finish(self):
        """Ends every node and checks the log. Scenarios call this last."""
        for n in self.nodes:
            if n.proc is not None and not n.alive() and not n.expected_exit:
                self.violation(f"{n.node_id} exited on its own ({n.proc.returncode}): "
                               f"{n.log(True)[-800:]}")
                n.start()  # so that the rest of the run can still be judged
            if n.alive():
                n.signal(signal.SIGCONT)
        self.wait_all_decided()
        for n in self.nodes:
            if not n.alive():
                continue
            rc = n.stop()
            if rc not in (0, None):
                self.violation(f"{n.node_id} exited {rc} on SIGTERM: {n.log(True)[-800:]}")
        self.verify()
        self.check_http_answers()
        for nodes, pattern, what in self.expected_logs:
            if not any(n.fired(pattern) for n in nodes):
                names = " or ".join(n.node_id for n in nodes)
                raise RunFailed(f"{what} never happened in {names} (no /{pattern}/ in "
                                f"the log): the run did not test what it claims")

    def cleanup(self):
        for n in self.nodes:
            n.kill()
