"""`ioc probe`: the IOC measures the telemedicine links itself (issue 41, item 4).

Each hospital whose entry in the province file has an `endpoint` is probed on a schedule
from the IOC's machine (a TCP connect, or an HTTP(S) request and its answer), and the link's
heartbeat (up or down, latency, jitter and loss over the last probes) is sent as a contract
`link.heartbeat`, so the link rules and panels work on measured links. One module per
concept: the checks (`checks`), the rolling figures of a link (`window`), the targets from
the province file (`targets`) and the loop that probes and sends (`run`). What a probe from
the IOC can and cannot see of a hospital-to-hub link: docs/probe.md.
"""
