# Worker image. The broker is not part of it: point LATITUDE_KAFKA_BOOTSTRAP at a cluster.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY streams streams
COPY agents agents
COPY deploy deploy
RUN pip install --no-cache-dir . && useradd --create-home latitude
USER latitude
ENV LATITUDE_WEB_HOST=0.0.0.0 LATITUDE_DATA_DIR=/home/latitude/data
EXPOSE 6066
ENTRYPOINT ["latitude"]
CMD ["worker"]
