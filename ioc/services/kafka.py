"""Apache Kafka on loopback: one pinned release fetched with Maven, KRaft nodes run by `java`.

Tansu (`broker.py`) stays the light embedded default; this is the broker production runs,
started here for the suite's broker tier, the fault runs' three-node cluster and, by a
setting, `ioc up`. The jars come from Maven Central through the small POM shipped in
`ioc/kafka/` (`mvn dependency:copy-dependencies` into a cache folder, once); each node is a
combined broker and controller whose storage is formatted afresh for each start of the
cluster.

`python -m ioc.services.kafka [FOLDER]` fetches the jars (what `make kafka` runs).
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from ioc.errors import MissingBinaryError, ServiceError
from ioc.resources import shipped_path
from ioc.services.broker import HOST, wait_for_kafka
from ioc.services.process import ManagedProcess, check_port_free, wait_for_tcp

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"  # the version in ioc/kafka/pom.xml
DEFAULT_JARS = Path("~/.cache/ioc").expanduser() / f"apache-kafka-{KAFKA_VERSION}"
# a node's log (its standard output, kept by ManagedProcess): warnings, and the lines that say
# when a node started, stopped, and which node leads the quorum. Kafka logs through slf4j,
# bound to reload4j (log4j 1) by our POM; log4j 2, which Kafka 4 also loads to manage log
# levels, gets a file of its own, or it complains "No configuration found" at every start.
LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
log4j.logger.org.apache.kafka.raft.QuorumState=INFO
"""
LOG4J2 = """status = warn
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
"""
_COMPLETE = ".complete"  # written last: a folder without it is an interrupted fetch


def _tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingBinaryError(f"{name} is not installed: {why}")
    return path


def fetch_jars(folder: Path = DEFAULT_JARS, out=sys.stderr) -> Path:
    """`folder` holding Apache Kafka's jars: fetched with Maven when not there yet."""
    folder = folder.expanduser().resolve()
    if (folder / _COMPLETE).is_file():
        return folder
    mvn = _tool("mvn", "Maven fetches Apache Kafka's jars from Maven Central "
                       "(apt-get install maven), or set IOC_KAFKA_JARS to a folder holding them")
    print(f"fetching Apache Kafka {KAFKA_VERSION} with Maven into {folder}", file=out, flush=True)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # Maven works next to its POM: a copy in the scratch folder keeps the package read-only
    pom = shutil.copy(shipped_path("ioc", "kafka", "pom.xml"), partial / "pom.xml")
    done = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={partial / 'libs'}"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ServiceError(f"Maven could not fetch Apache Kafka {KAFKA_VERSION} "
                           f"(exit {done.returncode}):\n{tail}")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    (folder / _COMPLETE).write_text(KAFKA_VERSION + "\n")
    return folder


def cluster_id() -> str:
    """A new KRaft cluster id: a UUID in URL-safe base64, as `kafka-storage random-uuid`,
    never starting with "-" (as Kafka's own): `format -t -Xy...` reads it as an option and
    fails, which stopped one session start in 64 ("expected one argument")."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


@dataclass(frozen=True)
class Node:
    """One combined broker and controller: its id and its two loopback ports."""

    node_id: int
    port: int
    controller_port: int


class ApacheKafka:
    """A KRaft cluster of `len(ports)` nodes on loopback (1 for tests, 3 for fault runs),
    its data and logs under `data_dir`. With three nodes and more, topics are replicated
    three times and need two in-sync replicas to take a write."""

    def __init__(self, data_dir: Path, ports: list[int], controller_ports: list[int],
                 jars: Path = DEFAULT_JARS, heap: str = "384m",
                 port_setting: str = "IOC_EMBEDDED_KAFKA_PORT",
                 controller_setting: str = "IOC_EMBEDDED_KAFKA_CONTROLLER_PORT",
                 keep: bool = False):
        if len(ports) != len(controller_ports) or not ports:
            raise ValueError("one broker port and one controller port per node")
        self.data_dir = data_dir.resolve() / "apache-kafka"
        self.nodes = [Node(n + 1, p, c) for n, (p, c) in enumerate(
            zip(ports, controller_ports, strict=True))]
        self.jars = jars
        self.heap = heap
        self.port_setting, self.controller_setting = port_setting, controller_setting
        self.keep = keep  # `ioc up`: topics and offsets outlive a restart, as the database's rows
        self.processes: dict[int, ManagedProcess] = {}

    @property
    def process(self) -> ManagedProcess | None:
        """The first node's process (a single node's: what `ioc up` watches)."""
        return self.processes.get(self.nodes[0].node_id)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes)

    def _properties(self, node: Node) -> str:
        replicas = min(3, len(self.nodes))
        in_sync = 2 if replicas >= 3 else 1
        voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in self.nodes)
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://{HOST}:{node.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.data_dir / f'node-{node.node_id}' / 'data'}",
            f"offsets.topic.replication.factor={replicas}",
            f"transaction.state.log.replication.factor={replicas}",
            f"transaction.state.log.min.isr={in_sync}",
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={in_sync}",
            "offsets.topic.num.partitions=10",
            # bounded by age and size (per partition): a week, or 256 MB, whichever first;
            # segments of 64 MB so that the oldest can go before a gigabyte accumulates
            "log.retention.hours=168",
            "log.retention.bytes=268435456",
            "log.segment.bytes=67108864",
            # a test's consumer group starts at once instead of waiting 3 s for more members
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ])

    def _java(self, *args: str) -> list[str]:
        java = _tool("java", "Apache Kafka runs on Java 17 or newer (apt-get install "
                             "openjdk-17-jre-headless)")
        return [java, f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
                "-cp", str(self.jars / "libs" / "*"), *args]

    def _config(self, node: Node) -> Path:
        return self.data_dir / f"node-{node.node_id}" / "server.properties"

    def _formatted(self) -> bool:
        return all((self._config(n).parent / "data" / "meta.properties").is_file()
                   for n in self.nodes)

    def start(self, timeout: float = 90.0) -> ApacheKafka:
        """Format every node's storage under a new cluster id (`keep`: only when not yet
        formatted) and start them all."""
        for node in self.nodes:
            check_port_free(HOST, node.port, self.port_setting)
            check_port_free(HOST, node.controller_port, self.controller_setting)
        reuse = self.keep and self._formatted()
        if not reuse:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "log4j.properties").write_text(LOG4J)
        (self.data_dir / "log4j2.properties").write_text(LOG4J2)
        for node in self.nodes:  # written each start: the ports may have changed
            config = self._config(node)
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(self._properties(node))
        if not reuse:
            self._format(timeout)
        for node in self.nodes:
            self.start_node(node.node_id)
        for node in self.nodes:
            wait_for_tcp(HOST, node.port, timeout, self.processes[node.node_id])
        wait_for_kafka(self.bootstrap, timeout, self.processes[self.nodes[0].node_id])
        log.info("Apache Kafka %s ready on %s%s", KAFKA_VERSION, self.bootstrap,
                 " (its earlier topics kept)" if reuse else "")
        return self

    def _format(self, timeout: float) -> None:
        cid = cluster_id()
        formats = []
        for node in self.nodes:
            config = self._config(node)
            formats.append(subprocess.Popen(
                self._java("kafka.tools.StorageTool", "format", "-t", cid, "-c", str(config)),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for node, fmt in zip(self.nodes, formats, strict=True):
            output = fmt.communicate(timeout=timeout)[0]
            if fmt.returncode != 0:
                raise ServiceError(f"formatting Apache Kafka node {node.node_id}'s storage "
                                   f"failed (exit {fmt.returncode}): {output.strip()[-800:]}")

    def start_node(self, node_id: int) -> ManagedProcess:
        """Start one node on its formatted storage (again, after `stop_node`)."""
        node = self.nodes[node_id - 1]
        config = self._config(node)
        process = ManagedProcess(
            f"kafka-{node_id}", self._java("kafka.Kafka", str(config)),
            self.data_dir.parent / "logs" / f"apache-kafka-{node_id}.log",
            env={"PATH": "/usr/bin:/bin"},
        ).start()
        self.processes[node_id] = process
        return process

    def quorum_leader(self, timeout: float = 20.0) -> int:
        """The node id of the active controller (the KRaft quorum's leader), asked of the
        controllers with Kafka's own `kafka-metadata-quorum describe --status`: the
        Metadata answer's controller id is any broker in KRaft mode."""
        controllers = ",".join(f"{HOST}:{n.controller_port}" for n in self.nodes
                               if n.node_id in self.processes)
        # asked right after a leader died, the tool's request can go to the dead one and be
        # retried for a minute (seen once in three): give up sooner, the caller asks again
        config = self.data_dir / "quorum-tool.properties"
        config.write_text("request.timeout.ms=3000\ndefault.api.timeout.ms=5000\n")
        try:
            done = subprocess.run(
                self._java("org.apache.kafka.tools.MetadataQuorumCommand",
                           "--bootstrap-controller", controllers, "--command-config",
                           str(config), "describe", "--status"),
                capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ServiceError(f"kafka-metadata-quorum did not answer in {timeout:g} s") from None
        for line in done.stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "LeaderId" and value.strip().lstrip("-").isdigit():
                return int(value)
        said = (done.stderr or done.stdout).strip().splitlines()  # its error, then a stack
        raise ServiceError(f"kafka-metadata-quorum named no leader (exit {done.returncode}): "
                           f"{' '.join(said[:2])[:400]}")

    def stop_node(self, node_id: int, kill: bool = False) -> None:
        """Stop one node: cleanly, or with SIGKILL (`kill`) as a crash would."""
        process = self.processes.pop(node_id, None)
        if process is None:
            return
        if kill:
            process.kill()
        else:
            process.stop(timeout=30.0)

    def stop(self) -> None:
        """Stop every node at once: one by one, the last would wait for a quorum gone."""
        stopping = [threading.Thread(target=self.stop_node, args=(n,))
                    for n in list(self.processes)]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        print(fetch_jars(Path(args[0]) if args else DEFAULT_JARS))
    except (MissingBinaryError, ServiceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
