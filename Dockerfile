# marvelsite: Django served by gunicorn, as a non-root user, on a read-only root filesystem
# (writable /tmp only). Build: `docker build -t marvelsite .` (or `skaffold build`).
# No secret goes into the image: settings come from the environment at run time (docs/configuration.md).

# The official image by version and digest: a tag can be re-pushed, a digest cannot. To move
# on, take the new digest of the exact tag (`docker buildx imagetools inspect <tag>`).
# scripts/image-check builds against a local stand-in through this argument.
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c

# --- build stage: the locked dependencies in a virtualenv, copied whole into the runtime ---
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
COPY requirements/prod.txt /tmp/requirements.txt
# Every pin carries its hashes: a changed or substituted file fails the build.
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt

# --- runtime stage ---
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=marvelsite.settings

# A fixed numeric uid/gid, so Kubernetes can check runAsNonRoot against the image. /app is
# the user's: SQLite's default ./var when the root filesystem is writable (plain `docker run`).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app \
    && install -d -o app -g app /app

WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Owned by the app user so that `skaffold dev` can sync edited files into a dev pod; in
# production the root filesystem is mounted read-only anyway.
COPY --chown=app:app . .

USER 10001:10001

# Hashed, compressed static files (whitenoise) and bytecode, made once here since the running
# container cannot write them. The key only satisfies the settings for this command.
RUN DJANGO_SECRET_KEY=collectstatic-build-only-not-a-secret MARVELSITE_DATA_DIR=/tmp \
        python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q marvelsite characters

EXPOSE 8000

# Workers, threads, timeouts from GUNICORN_* variables; access log on stdout.
CMD ["gunicorn", "-c", "python:marvelsite.gunicorn_conf", "marvelsite.wsgi"]
