# atoms serve in a container: the canvas and the wheel are built in stages, the runtime is a slim
# Python image running as a non-root user with the data dir on a volume. See docs/deploy.md.
#   docker build -t atoms .                        (EXTRAS: the optional extras to install)
#   docker run -p 127.0.0.1:8000:8000 -v atoms-data:/data atoms
FROM node:20-bookworm-slim AS canvas
WORKDIR /src
COPY atoms-ui/package.json atoms-ui/package-lock.json atoms-ui/
RUN cd atoms-ui && npm ci --no-audit --no-fund
COPY atoms-app/package.json atoms-app/package-lock.json atoms-app/
RUN cd atoms-app && npm ci --no-audit --no-fund
COPY atoms-ui atoms-ui
COPY atoms-app atoms-app
RUN cd atoms-ui && npm run build && cd ../atoms-app && npm run build

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY LICENSE ./
COPY atoms-core atoms-core
COPY --from=canvas /src/atoms-app/dist atoms-core/src/atoms_core/demo_app
RUN pip install --no-cache-dir 'build>=1.2' && python -m build --wheel --outdir /dist atoms-core

FROM python:3.11-slim
ARG EXTRAS=redis,s3,vault
RUN useradd --system --uid 10001 --home-dir /data atoms && install -d -o atoms -g atoms /data
COPY --from=wheel /dist/ /tmp/dist/
# No brackets without extras: pip refuses "…whl[]".
RUN whl=$(ls /tmp/dist/atoms_core-*.whl) && pip install --no-cache-dir "${whl}${EXTRAS:+[$EXTRAS]}" && rm -rf /tmp/dist
USER atoms
WORKDIR /data
ENV ATOMS_HOST=0.0.0.0 ATOMS_PORT=8000 ATOMS_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
ENTRYPOINT ["atoms"]
CMD ["serve"]
