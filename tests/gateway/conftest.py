"""Fixtures of the gateway tests: a key store and a factory of running gateways (loopback only)."""

import pytest

from distillwatch.gateway import BackgroundServer, KeyStore, Policy, build_gateway


@pytest.fixture
def keys(tmp_path):
    store = KeyStore(tmp_path / "keys.sqlite")
    yield store


@pytest.fixture
def gateway(tmp_path, keys):
    """Start gateways: `gateway(upstream, policy_dict)` → running server with `.app`, `.log_dir`."""
    servers = []

    def start(upstream="mock/teacher", policy=None, **kw):
        log_dir = tmp_path / f"log{len(servers)}"
        app = build_gateway(upstream, log_dir, policy=Policy.from_mapping(policy or {}), keys=keys, **kw)
        srv = BackgroundServer(app).start()
        srv.app, srv.log_dir, srv.gw = app, log_dir, app.state.gateway
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
