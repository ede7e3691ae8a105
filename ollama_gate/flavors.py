"""Proxy flavors: how each nginx build the config runs in differs (workers, Lua, main config).

The one place where the images differ. Auth modes name the flavor their image is
(``AuthMode.flavor``); the tests and the benchmark run the "debian" flavor.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavor:
    """How one nginx build runs the rendered files.

    + worker_user/worker_group/worker_uid/worker_gid: who the workers run as; credential
      files are root:<worker_gid> mode 0640 so that only root and the workers read them.
    + lua: the build has ngx_http_lua (needed by bearer mode).
    + load_modules: main-context ``load_module`` lines the build needs for Lua (empty when
      built in). conf.d sits inside ``http {}``, so these belong to the main nginx.conf.
    + main_conf: the main config that includes ``conf.d/*.conf`` inside ``http {}``.
    + worker_processes: what that main config sets (main context, not ours to change from
      conf.d); the benchmark's ``--workers`` mirrors it.
    + writable_dirs: where the image's nginx writes (pid file, temp files); tmpfs mounts
      in a container whose root filesystem is read-only.
    + pid_file: "" to keep the image's own (already under a writable dir); else a pid
      path the deploy sets through ``conf.d/*.main``, which the image's nginx.conf includes
      at the top level.
    """

    description: str
    worker_user: str
    worker_group: str
    worker_uid: int
    worker_gid: int
    lua: bool
    load_modules: tuple
    main_conf: str
    worker_processes: str
    writable_dirs: tuple = ()
    pid_file: str = ""


# The one place where the images differ.
FLAVORS = {
    # Official `nginx` image (basic mode): /etc/nginx/nginx.conf says `user nginx;`
    # (uid/gid 101) and `worker_processes auto;`. No Lua module.
    "nginx": Flavor(
        description="official nginx image",
        worker_user="nginx",
        worker_group="nginx",
        worker_uid=101,
        worker_gid=101,
        lua=False,
        load_modules=(),
        main_conf="/etc/nginx/nginx.conf",
        worker_processes="auto",
        # nginx.conf: `pid /run/nginx.pid;`; compiled in: --http-*-temp-path under
        # /var/cache/nginx. Logs are symlinks to /dev/stdout and /dev/stderr.
        writable_dirs=("/var/cache/nginx", "/run", "/tmp"),
    ),
    # Official `openresty/openresty` bookworm image (bearer mode): its nginx.conf leaves
    # `user` commented out, so workers run as nobody/nogroup (65534); it sets no
    # lua_package_path and `worker_processes 1`. Lua is built in and nginx links OpenSSL,
    # so LuaJIT FFI finds SHA256() in the process.
    "openresty": Flavor(
        description="official openresty/openresty bookworm image",
        worker_user="nobody",
        worker_group="nogroup",
        worker_uid=65534,
        worker_gid=65534,
        lua=True,
        load_modules=(),
        main_conf="/usr/local/openresty/nginx/conf/nginx.conf",
        worker_processes="1",
        # nginx.conf sets the temp paths under /var/run/openresty (docker-openresty #119)
        # and leaves pid at the compiled-in logs/nginx.pid, beside the log symlinks, so the
        # pid moves to the writable dir through conf.d/*.main (included since 1.25.3.2-2).
        writable_dirs=("/var/run/openresty", "/tmp"),
        pid_file="/var/run/openresty/nginx.pid",
    ),
    # Debian's nginx + libnginx-mod-http-lua (the tests and the benchmark): modules are
    # dynamic; the test harness writes its own main config with `user nobody nogroup;`,
    # mirroring the OpenResty image. Debian has lua-resty-core but no lua-resty-string,
    # which is why the Lua module hashes through FFI rather than resty.sha256.
    "debian": Flavor(
        description="Debian nginx with libnginx-mod-http-lua",
        worker_user="nobody",
        worker_group="nogroup",
        worker_uid=65534,
        worker_gid=65534,
        lua=True,
        load_modules=(
            "/usr/lib/nginx/modules/ndk_http_module.so",
            "/usr/lib/nginx/modules/ngx_http_lua_module.so",
        ),
        main_conf="/etc/nginx/nginx.conf",
        worker_processes="1",
    ),
}
