
bind = "127.0.0.1:41657"  # in a pod: "0.0.0.0:8000"; on this machine, loopback only
workers = 3
worker_class = "uvicorn_worker.UvicornWorker"
keepalive = 65  # longer than the ALB's 60 s idle timeout: the ALB closes idle connections first
graceful_timeout = 25  # in-flight requests get 25 s after SIGTERM, within Kubernetes' 30 s
