# The one image behind every Backroom service of compose.yaml (web, worker, migrate).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/backroom
# Dependencies from the lock file (versions and hashes; `make lock`), a layer of their own
# that a code change leaves cached; then the project itself, which brings nothing more.
COPY requirements.txt ./
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY app ./app
COPY workflows ./workflows
COPY views ./views
COPY jobs ./jobs
COPY templates ./templates
RUN pip install --no-cache-dir --no-deps . && mkdir -p data/uploads && useradd --system backroom \
    && chown -R backroom data
USER backroom
ENV BACKROOM_DATA_DIR=/srv/backroom/data PORT=8000
EXPOSE 8000
CMD ["backroom", "web"]
