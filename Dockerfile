# One image for all five control-plane services. Each compose service picks its own with
#   command: ["python", "-m", "services.<name>"]
# so the image deliberately has no service-specific CMD.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# openssh-client: the orchestrator's deploy command (`nixos-rebuild ... --target-host root@<vm>`)
# reaches the VMs over ssh. nixos-rebuild (and nix) are NOT installed here: they come from the
# provider's environment (e.g. a derived image with nix, or a wrapper script), and the command
# that is run is a setting, FEDI_ORCHESTRATOR_DEPLOY_COMMAND.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client \
    && rm -rf /var/lib/apt/lists/*

# System-wide ssh settings for deploys: use the orchestrator's generated deploy key and keep
# known_hosts in its (persistent) data folder.
COPY deploy/ssh/fedi-orchestrator.conf /etc/ssh/ssh_config.d/fedi-orchestrator.conf

# Non-root runtime user. /var/lib/fedi/orchestrator is the orchestrator's data folder (deploy key,
# deployment trees); created here so the named volume mounted on it starts out owned by `fedi`.
RUN useradd --create-home --uid 10001 --user-group fedi \
    && install -d -o fedi -g fedi /var/lib/fedi /var/lib/fedi/orchestrator

WORKDIR /app

# Dependencies first, in their own layer, so source edits don't reinstall them: install the
# project from pyproject.toml with empty package folders, then drop the (empty) project itself.
COPY pyproject.toml ./
RUN mkdir contracts runtime services sandbox fedi \
    && pip install . \
    && pip uninstall -y fediversity-control-plane \
    && rm -rf contracts runtime services sandbox fedi build *.egg-info

COPY . .
# Editable on purpose: the orchestrator copies the repo's top-level `nix/` folder (found relative
# to its source file), which a regular install into site-packages would leave behind.
RUN pip install --no-deps -e . \
    && python -c "import services.panel.settings, services.orchestrator.adapters.deployer as d; assert d.NIX_DIR.is_dir(), d.NIX_DIR"

USER fedi
CMD ["python", "-c", "print('fediversity-control-plane: run one service with: python -m services.<panel|configurator|orchestrator|storage|identity>')"]
