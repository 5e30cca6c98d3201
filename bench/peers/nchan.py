"""nginx + Nchan as a peer: the configuration, written into a fresh temp directory.

One worker process (the comparison is one core each), subscriber and publisher
locations per channel, message buffers large enough that no subscriber in a run can fall
off the end of a channel's history (hubbub keeps everything by default).
"""

from __future__ import annotations

from pathlib import Path

MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"

_CONF = """\
load_module {module};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 32768;
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    nchan_shared_memory_size 512M;
    server {{
        listen 127.0.0.1:{port} backlog=4096 reuseport;
        location ~ ^/sub/([A-Za-z0-9_.-]+)$ {{
            nchan_subscriber websocket eventsource longpoll;
            nchan_channel_id $1;
            nchan_subscriber_first_message oldest;
            nchan_subscriber_timeout 60s;
            nchan_websocket_ping_interval 0;
            nchan_eventsource_ping_interval 0;
        }}
        # The chat shape (bench/chat.py): one WebSocket on a personal and a group channel.
        location ~ ^/chat/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)$ {{
            nchan_subscriber websocket;
            nchan_channel_id $1 $2;
            nchan_subscriber_first_message oldest;
            nchan_websocket_ping_interval 0;
        }}
        location ~ ^/pub/([A-Za-z0-9_.-]+)$ {{
            nchan_publisher http;
            nchan_channel_id $1;
            nchan_message_buffer_length 100000;
            nchan_message_timeout 10m;
        }}
    }}
}}
"""


def write_config(directory: Path, port: int) -> Path:
    """Write ``nginx.conf`` for a server on 127.0.0.1:``port``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(_CONF.format(module=MODULE, dir=directory, port=port))
    return conf


def command(conf: Path) -> list[str]:
    return ["nginx", "-c", str(conf), "-p", str(conf.parent), "-e", str(conf.parent / "error.log")]
