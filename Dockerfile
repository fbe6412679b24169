ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
# perps-sim: REST + WebSocket + control plane on 8000, FIX on 8228 (NR), 8229 (DC), 8230 (RT) and
# 8233 (MD). Build: `docker build -t perps-sim .`; run: see README.md, "Docker".
#
# Every stage starts from ${BASE_IMAGE} so the image also builds on a local base (CI builds it on
# Debian bookworm with buildah: ../shared/tools/container-smoke). The build stage makes the
# project's wheel and installs it with its pinned runtime dependencies (constraints.txt) into a
# virtualenv; the final stage copies only that virtualenv: no sources, tests, build tools or dev
# dependencies. The build stage is stage 0 (`COPY --from=0`), so that this file starts with the
# two lines every base needs.

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY matching ./matching
COPY simulator ./simulator
COPY api ./api
COPY fix_acceptor ./fix_acceptor
COPY fixtures ./fixtures
# /opt/perps-sim/fixtures: a fixed path to the package data (the demo user's key pair is in keys/).
# pip and setuptools leave the virtualenv last: the image runs the simulator, it installs nothing.
RUN python3 -m venv /opt/perps-sim \
 && /opt/perps-sim/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/perps-sim/bin/pip install -c constraints.txt /wheels/perps_sim-*.whl \
 && cd / \
 && ln -s "$(/opt/perps-sim/bin/python -I -c 'import simulator.server.scenarios as s; print(s.FIXTURES_DIR)')" \
    /opt/perps-sim/fixtures \
 && /opt/perps-sim/bin/python -I -c 'import simulator.server.scenarios as s; s.load_scenario("default")' \
 && test -f /opt/perps-sim/fixtures/keys/demo_private.pem \
 && /opt/perps-sim/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE}
# A fixed uid, so `USER` is numeric (Kubernetes' runAsNonRoot can check it) and a bind-mounted
# state directory can be made writable for it (`chown 10001 DIR`).
#
# State persistence is opt-in: by default the simulator keeps its state in memory and every
# container starts from the scenario (deterministic, like `perps-sim serve`). /data exists, owned
# by the server's user, so that `-v perps-sim-data:/data -e PERPS_SIM_STATE_DIR=/data` works: a
# new named volume takes the ownership of the directory it is mounted on. There is no VOLUME
# instruction on purpose: it would create an anonymous volume for every container, also for the
# (default) in-memory runs that never write there.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/perps-sim \
        --shell /usr/sbin/nologin perps-sim \
 && install -d -o perps-sim -g perps-sim -m 0750 /data
COPY --from=0 /opt/perps-sim /opt/perps-sim

# PERPS_SIM_<FLAG> configures each `perps-sim serve` flag (simulator/server/cli.py), e.g.
# PERPS_SIM_CLOCK=manual, PERPS_SIM_SCENARIO=bare, PERPS_SIM_STATE_DIR=/data; a flag given after
# the image name (`docker run IMAGE serve --clock manual`) wins over its variable. The server
# listens on every interface of the container, so that published ports reach it.
ENV PATH=/opt/perps-sim/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PERPS_SIM_HOST=0.0.0.0
USER 10001:10001
WORKDIR /home/perps-sim
EXPOSE 8000 8228 8229 8230 8233
# python:3.12-slim has no curl; the check follows PERPS_SIM_PORT (not a --port flag)
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PERPS_SIM_PORT', '8000') + '/sim/v1/health', timeout=4)"]
ENTRYPOINT ["perps-sim"]
CMD ["serve"]
