"""The HTTP intake (`ioc intake`): the province's systems send contract events over HTTP.

`POST /v1/events` takes a JSON array (or one object) or NDJSON of events with a source's key;
each event is judged as the worker would (the contract, the province's codes) and against
the key's scope, and the accepted ones are on Kafka before the answer says so. One module per
concept: the request body (`body`), the verdict on each event (`judge`), the accepted ids
(`ledger`), the keys (`keys`), a source's rate (`rate`), the broker (`publisher`), the
answers (`answers`), the ASGI app (`app`) and the server (`server`).
"""
