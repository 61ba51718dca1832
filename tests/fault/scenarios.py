"""The fault scenarios. Each is a function of a Run: it starts nodes, drives load,
injects its fault at a random moment (drawn from the run's seeded generator) and ends
with run.finish(), which waits until every request has its outcome and judges the log.

A scenario's docstring is its line in the report.
"""

import signal
import threading
import time
import uuid

from harness import Loadgen, RunFailed, http_request, wait_for

SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__.replace("_", "-")] = fn
    return fn


# -- shared pieces --------------------------------------------------------------


def load_profile(run, purchases=None, rate=None):
    """Few items with little stock and steady restocks, so that buyers race for the
    last units while the fault happens: an oversell has every chance to show."""
    rng = run.rng
    p = dict(items=rng.randint(4, 10), stock=rng.randint(10, 40),
             purchases=purchases or rng.randint(700, 1400), rate=rate or rng.randint(70, 120),
             restock_every=rng.randint(4, 9))
    run.figures["load"] = p
    return p


def start_load(run, **overrides):
    p = load_profile(run)
    p.update(overrides)
    lg = Loadgen(run, **p)
    lg.wait_inserted()
    return lg


def during_load(run, lg, low=0.15, high=0.7):
    """Sleeps until a random moment while the load generator is sending."""
    at = lg.sending_since + 1.0 + run.rng.uniform(low, high) * lg.duration
    time.sleep(max(0.0, at - time.monotonic()))


def finish_load(run, lg):
    lg.finish(timeout=max(60, lg.duration * 3 + 120))


def start_nodes(run, count, args=(), http=False, state=None):
    nodes = []
    for i in range(count):
        with_state = run.rng.random() < 0.5 if state is None else state
        nodes.append(run.node(f"n{i + 1}", args, http=http, state=with_state).start())
    for n in nodes:
        n.wait_ready()
    return nodes


def owns_every_partition(run, text):
    """True if, by the log `text` of one node, its lanes together hold every partition:
    each lane's last assignment, less what it was revoked since."""
    import re
    held = {}
    for m in re.finditer(r"processor (\S+): partitions (assigned|revoked): ([\d,]*)", text):
        numbers = {int(p) for p in m.group(3).split(",") if p}
        if m.group(2) == "assigned":
            held[m.group(1)] = numbers
        else:
            held[m.group(1)] = held.get(m.group(1), set()) - numbers
    return set().union(*held.values()) == set(range(run.partitions)) if held else False


class HttpClients:
    """Client threads that buy over HTTP and record every answer for the judges."""

    def __init__(self, run, ports, items, threads, requests_each, wait_ms=5000, keyed=0.5):
        self.run = run
        self.ports = ports
        self.items = items
        self.wait_ms = wait_ms
        self.keyed = keyed
        self.threads = [threading.Thread(target=self._client, args=(i, requests_each), daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        if any(t.is_alive() for t in self.threads):
            self.run.violation(f"HTTP clients still waiting {timeout:.0f} s later")

    def _client(self, i, count):
        rng_seed = f"{self.run.seed}-{self.run.index}-client-{i}"
        import random
        rng = random.Random(rng_seed)
        for k in range(count):
            port = rng.choice(self.ports)
            body = {"itemId": rng.choice(self.items), "quantity": 1,
                    "purchasedBy": f"client-{i}"}
            headers = {}
            if rng.random() < self.keyed:
                headers["Idempotency-Key"] = f"k-{self.run.prefix}-{i}-{k}"
            status, answer = http_request(port, "POST", f"/purchases?wait={self.wait_ms}", body,
                                          headers, timeout=self.wait_ms / 1000 + 30)
            self.run.http_answers.append(({"what": f"POST /purchases to :{port}", "body": body},
                                          status, answer))


def insert_items_http(run, port, items, stock):
    for item in items:
        status, body = http_request(port, "POST", "/items",
                                    {"itemId": item, "description": item, "quantity": stock},
                                    timeout=40)
        if status != 201:
            raise RunFailed(f"inserting {item} over HTTP: {status} {body}")


# -- scenarios ------------------------------------------------------------------


@scenario
def sigkill(run):
    """SIGKILL a node under load, restart it with the same id (and store) 0-4 s later."""
    nodes = start_nodes(run, run.rng.choice([1, 2]))
    lg = start_load(run)
    during_load(run, lg)
    victim = run.rng.choice(nodes)
    run.note(f"SIGKILL {victim.node_id}")
    victim.kill()
    time.sleep(run.rng.uniform(0, 4))
    victim.start()
    finish_load(run, lg)
    run.finish()


@scenario
def zombie(run):
    """SIGSTOP a node past the session and transaction timeouts (12-20 s), then SIGCONT."""
    nodes = start_nodes(run, 2)
    lg = start_load(run, purchases=run.rng.randint(1500, 2200), rate=80)
    during_load(run, lg, 0.1, 0.3)
    victim = run.rng.choice(nodes)
    pause = run.rng.uniform(12, 20)
    run.note(f"SIGSTOP {victim.node_id} for {pause:.1f} s")
    victim.signal(signal.SIGSTOP)
    time.sleep(pause)
    victim.signal(signal.SIGCONT)
    finish_load(run, lg)
    run.finish()


@scenario
def short_pause(run):
    """SIGSTOP a node for 1-6 s (shorter than the timeouts), then SIGCONT."""
    nodes = start_nodes(run, run.rng.choice([1, 2]))
    lg = start_load(run)
    during_load(run, lg)
    victim = run.rng.choice(nodes)
    pause = run.rng.uniform(1, 6)
    run.note(f"SIGSTOP {victim.node_id} for {pause:.1f} s")
    victim.signal(signal.SIGSTOP)
    time.sleep(pause)
    victim.signal(signal.SIGCONT)
    finish_load(run, lg)
    run.finish()


@scenario
def broker_kill(run):
    """kill -9 the broker under load and start it again on its data 0-3 s later."""
    start_nodes(run, run.rng.choice([1, 2]))
    lg = start_load(run)
    during_load(run, lg)
    down = run.rng.uniform(0, 3)
    run.note(f"kill -9 the broker, restart after {down:.1f} s")
    run.h.broker.kill()
    time.sleep(down)
    run.h.broker.start()
    finish_load(run, lg)
    run.finish()


@scenario
def broker_outage(run):
    """Stop the broker for longer than the transaction timeout (12-16 s), then start it."""
    start_nodes(run, run.rng.choice([1, 2]))
    lg = start_load(run)
    during_load(run, lg)
    down = run.rng.uniform(12, 16)
    run.note(f"broker down for {down:.1f} s")
    run.h.broker.kill()
    time.sleep(down)
    run.h.broker.start()
    finish_load(run, lg)
    run.finish()


@scenario
def join_leave(run):
    """A second node joins under load, then the first leaves (SIGTERM)."""
    (first,) = start_nodes(run, 1)
    lg = start_load(run, purchases=run.rng.randint(1200, 1800))
    during_load(run, lg, 0.05, 0.3)
    second = run.node("n2", state=run.rng.random() < 0.5).start()
    run.note("n2 joins")
    second.wait_ready()
    during_load(run, lg, 0.4, 0.7)
    run.note("n1 leaves (SIGTERM)")
    rc = first.stop()
    if rc != 0:
        run.violation(f"n1 exited {rc} on SIGTERM")
    finish_load(run, lg)
    run.finish()


@scenario
def chaos_state(run):
    """Chaos aborts with a state store, passivation and a small live-item bound."""
    rng = run.rng
    args = ["--chaos-abort-every", str(rng.randint(2, 5)), "--idle-timeout-ms",
            str(rng.randint(200, 1000)), "--max-live-items", str(rng.randint(1, 4))]
    run.note(" ".join(args))
    nodes = start_nodes(run, rng.choice([1, 2]), args, state=True)
    run.expect_log(nodes, r"aborting the transaction: chaos", "a chaos abort")
    run.expect_log(nodes, r"\(([1-9]\d*) passivated\)", "passivation")
    lg = start_load(run)
    finish_load(run, lg)
    run.finish()


@scenario
def store_fail(run):
    """A state-store write after a commit fails (injected), with passivation: actors come
    back from the store afterwards."""
    rng = run.rng
    n = rng.randint(3, 25)
    args = ["--fault", f"store-fail={n}", "--idle-timeout-ms", str(rng.randint(200, 600)),
            "--max-live-items", str(rng.randint(1, 3))]
    run.note(" ".join(args))
    nodes = start_nodes(run, 1, args, state=True)
    run.expect_log(nodes[0], r"fault: store-fail", "the failed store write")
    lg = start_load(run)
    finish_load(run, lg)
    # A restart reads the store again.
    nodes[0].stop()
    nodes[0].start()
    nodes[0].wait_ready()
    lg2 = Loadgen(run, items=run.figures["load"]["items"], stock=1, purchases=200, rate=100,
                  insert=False)
    lg2.sending_since = time.monotonic()
    finish_load(run, lg2)
    run.finish()


@scenario
def read_fail(run):
    """A state-store read fails (injected) while item actors still owe the transaction
    answers: it aborts with decisions in flight, their late answers are dropped, and each of
    its requests is decided again, once."""
    rng = run.rng
    n = rng.randint(3, 60)
    args = ["--fault", f"read-fail={n}", "--max-live-items", str(rng.randint(1, 50))]
    run.note(" ".join(args))
    nodes = start_nodes(run, rng.choice([1, 2]), args, state=rng.random() < 0.5)
    run.expect_log(nodes, r"fault: read-fail \(([1-9]\d*) decisions still owed",
                   "the failed store read, with decisions in flight")
    # Answers already sent when the abort came (the abort waits for the broker first).
    run.expect_log(nodes, r"\(([1-9]\d*) late answers dropped\)", "late answers dropped")
    # Fast enough that a transaction gathers several requests (reads count only then).
    lg = start_load(run, rate=rng.randint(250, 400))
    finish_load(run, lg)
    run.finish()


@scenario
def topics_recreated(run):
    """Topics deleted and created anew under a node's state dir, the new log grown past the
    store's old positions before the node comes back."""
    rng = run.rng
    (a,) = start_nodes(run, 1, state=True)
    lg = start_load(run, purchases=rng.randint(200, 400), rate=150)
    finish_load(run, lg)
    a.stop()
    run.note("topics deleted and created again")
    run.delete_topics()
    run.ensure_topics()
    b = run.node("n2", state=False).start()
    b.wait_ready()
    lg = start_load(run, purchases=rng.randint(900, 1200), rate=200)
    finish_load(run, lg)
    b.stop()
    run.note("n1 comes back on its old store")
    a.start()
    a.wait_ready()
    lg = Loadgen(run, items=run.figures["load"]["items"], stock=1, purchases=300, rate=150,
                 insert=False)
    lg.sending_since = time.monotonic()
    finish_load(run, lg)
    run.finish()


@scenario
def pause_at_commit(run):
    """The owner stops itself between send_offsets and commit_transaction (transaction
    timeout 30 s); the other node takes every partition; then the owner resumes and its
    commit may still succeed."""
    rng = run.rng
    n = rng.randint(5, 40)
    a = run.node("n1", ["--transaction-timeout-ms", "30000", "--fault",
                        f"pause-before-commit={n}"], state=rng.random() < 0.5).start()
    a.wait_ready()
    run.expect_log(a, r"fault: pausing \(SIGSTOP\) before commit", "the pause before a commit")
    # n1 owns every partition until it pauses (with a second node from the start, n1's
    # share could hold none of the few items, and it would never commit).
    lg = start_load(run, purchases=rng.randint(1800, 2400), rate=80)
    wait_for("n1 to pause itself before a commit", a.paused, 60)
    run.note(f"n1 paused before commit {n}; n2 starts")
    b = run.node("n2", state=rng.random() < 0.5).start()
    log_mark = 0
    wait_for("n2 to be assigned every partition",
             lambda: owns_every_partition(run, b.log(True)[log_mark:]), 45)
    time.sleep(rng.uniform(0, 3))
    run.note("n2 owns every partition; n1 resumes")
    a.signal(signal.SIGCONT)
    finish_load(run, lg)
    run.finish()


@scenario
def offsets_fail(run):
    """Fetching the committed offsets fails once while the node rewinds after an abort."""
    rng = run.rng
    args = ["--chaos-abort-every", str(rng.randint(2, 4)), "--fault",
            f"offsets-fail={rng.randint(1, 4)}"]
    run.note(" ".join(args))
    nodes = start_nodes(run, rng.choice([1, 2]), args)
    run.expect_log(nodes, r"fault: offsets-fail", "the failed offsets fetch")
    lg = start_load(run)
    finish_load(run, lg)
    run.finish()


@scenario
def commit_unknown(run):
    """A commit succeeds but the node is told its result is unknown (retries ran out)."""
    rng = run.rng
    args = ["--fault", f"commit-unknown={rng.randint(3, 30)}"]
    run.note(" ".join(args))
    nodes = start_nodes(run, rng.choice([1, 2]), args)
    run.expect_log(nodes, r"fault: commit-unknown", "the commit with an unknown result")
    lg = start_load(run)
    finish_load(run, lg)
    run.finish()


@scenario
def sigterm_http(run):
    """SIGTERM a node while HTTP clients wait on POST /purchases?wait=10000: every client
    gets an answer (its outcome, or 202 with its purchaseId)."""
    rng = run.rng
    run.require_answers = True
    # Slow commits keep the clients waiting when the signal comes.
    args = ["--commit-interval-ms", str(rng.randint(1500, 3000))]
    nodes = start_nodes(run, 2, args, http=True)
    victim = rng.choice(nodes)
    port = victim.http_port()
    items = [f"seat-{k}" for k in range(rng.randint(2, 5))]
    insert_items_http(run, port, items, rng.randint(5, 20))
    clients = HttpClients(run, [port], items, threads=32, requests_each=1, wait_ms=10000).start()
    time.sleep(rng.uniform(0.3, 1.2))
    run.note(f"SIGTERM {victim.node_id} with 32 clients waiting")
    rc = victim.stop()
    if rc != 0:
        run.violation(f"{victim.node_id} exited {rc} on SIGTERM")
    clients.join(60)
    victim.start()  # so that whatever it owned is decided quickly
    run.finish()


@scenario
def same_key(run):
    """The same Idempotency-Key sent at the same moment to two nodes for two items: one
    request is taken, the other is refused (422); nobody is answered with a request they
    did not make."""
    nodes = start_nodes(run, 2, http=True)
    ports = [n.http_port() for n in nodes]
    insert_items_http(run, ports[0], ["item-a", "item-b"], 1000)
    for k in range(5):
        key = f"same-{uuid.uuid4()}"
        barrier = threading.Barrier(2)
        answers = [None, None]

        def send(i):
            body = {"itemId": ["item-a", "item-b"][i], "quantity": 1, "purchasedBy": "buyer"}
            barrier.wait()
            status, answer = http_request(ports[i], "POST", "/purchases?wait=10000", body,
                                          {"Idempotency-Key": key}, timeout=40)
            answers[i] = status
            run.http_answers.append(({"what": f"POST /purchases to :{ports[i]}", "body": body},
                                     status, answer))

        threads = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        taken = [s for s in answers if s in (200, 201, 202)]
        if len(taken) != 1 or 422 not in answers:
            run.violation(f"Idempotency-Key {key} for two items on two nodes: answers "
                          f"{answers}; one 2xx and one 422 expected")
    run.finish()


@scenario
def http_kill(run):
    """HTTP buyers on two nodes, one node SIGKILLed and restarted: every 200 answer is the
    committed outcome of the buyer's own request."""
    rng = run.rng
    nodes = start_nodes(run, 2, http=True)
    ports = [n.http_port() for n in nodes]
    items = [f"seat-{k}" for k in range(rng.randint(3, 6))]
    insert_items_http(run, ports[0], items, rng.randint(20, 60))
    clients = HttpClients(run, ports, items, threads=16, requests_each=rng.randint(20, 40),
                          wait_ms=3000).start()
    time.sleep(rng.uniform(1, 4))
    victim = rng.choice(nodes)
    run.note(f"SIGKILL {victim.node_id}")
    victim.kill()
    time.sleep(rng.uniform(0, 3))
    victim.start()
    clients.join(300)
    run.finish()


@scenario
def slow_takeover(run):
    """A node takes over partitions whose catch-up (slowed on purpose: 2.5 s more per
    write of 5,000 records) lasts longer than the group's rebalance timeout
    (max.poll.interval.ms 10 s), and a third node joins meanwhile: the node answers the
    rebalance at once, loses nothing to a stale generation, and decides afterwards. n2 and
    n3 run one lane each: with more members n2 keeps too little to catch up for long."""
    import re
    rng = run.rng
    a = run.node("n1", state=rng.random() < 0.5).start()
    a.wait_ready()
    lg = start_load(run, purchases=rng.randint(22000, 30000), rate=0)
    finish_load(run, lg)
    poll = ["--kafka-property", "max.poll.interval.ms=10000"]
    b = run.node("n2", poll + ["--fault", "catch-up-slow=2500", "--lanes", "1"]).start()
    b.wait_log(r"partitions assigned", 60)
    mark = len(b.log(True))
    run.note("n1 stops; n2 takes every partition over, slowly")
    a.stop()
    wait_for("n2 to be assigned every partition",
             lambda: owns_every_partition(run, b.log(True)[mark:]), 60)
    time.sleep(2)
    run.note("n3 joins while n2 catches up")
    c = run.node("n3", poll + ["--lanes", "1"]).start()
    took = []

    def caught_up():
        text = b.log(True)[mark:] + c.log(True)
        found = {}
        for m in re.finditer(r"partition (\d+) caught up \(assigned\): \d+ records read in "
                             r"(\d+) ms", text):
            found[int(m.group(1))] = int(m.group(2))
        took[:] = [int(m.group(1)) for m in re.finditer(r"records read in (\d+) ms",
                                                        b.log(True)[mark:])]
        return len(found) == run.partitions and c.fired(r"partitions assigned")
    wait_for("n2 and n3 to catch every partition up", caught_up, 300)
    longest = max(took) / 1000
    run.note(f"every partition caught up; n2's longest catch-up took {longest:.1f} s")
    if longest <= 10:
        raise RunFailed(f"n2's catch-up lasted only {longest:.1f} s, not longer than the "
                        f"rebalance timeout (10 s): the run did not test what it claims")
    for node in (b, c):
        if node.fired(r"maximum poll interval"):
            run.violation(f"{node.node_id} exceeded max.poll.interval.ms (left its group)")
        if node.fired(r"generation id is not valid"):
            run.violation(f"{node.node_id} worked with a stale group generation (it was dropped "
                          f"from a rebalance)")
    lg2 = Loadgen(run, items=run.figures["load"]["items"], stock=1, purchases=300, rate=150,
                  insert=False)
    lg2.sending_since = time.monotonic()
    finish_load(run, lg2)
    run.finish()
