-- ollama-gate: "Authorization: Bearer <key>" checked against SHA-256 digests of the keys.
--
-- Installed verbatim beside ollama-gate.conf (which calls init_worker and access). The
-- keys file has lines "name:<64 hex SHA-256 of the key>[:<expiry, Unix seconds>]"; "#"
-- comments and blank lines are ignored. A key with an expiry is refused (401) from that
-- second on, by each request's own clock check: no reload or rerun is needed for it. Each worker keeps the parsed file in memory and re-reads it once a second
-- from a timer, so a request costs one SHA-256 and one table lookup. A missing or
-- unreadable file fails closed: every request gets 503 and the error log says why.
-- Hashing goes through LuaJIT FFI into the libcrypto nginx is linked with, which works
-- in OpenResty and in Debian's lua module alike (Debian has no lua-resty-string).

local ffi = require "ffi"
local bit = require "bit"

local ngx = ngx
local io_open = io.open
local band, rshift = bit.band, bit.rshift
local byte, find, lower, sub = string.byte, string.find, string.lower, string.sub

local _M = {}

pcall(ffi.cdef, [[
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
]])

local crypto = ffi.C
if not pcall(function() return crypto.SHA256 end) then
    -- nginx not linked against libcrypto: load it explicitly.
    crypto = ffi.load("libcrypto.so.3")
end

local MAX_TOKEN = 1024
local SPACE = 32
local RELOAD_INTERVAL = 1
local digest = ffi.new("unsigned char[32]")
local hex = ffi.new("unsigned char[64]")
local HEX_DIGITS = ffi.new("const unsigned char[16]",
    { 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102 })

local conf           -- { keys_file = ..., realm = ... }
local keys           -- digest (lowercase hex) -> key name; nil = fail closed
local expiries       -- digest -> Unix time from which the key is refused (keys that expire)
local loaded         -- the file content `keys` was parsed from
local problem        -- the last load problem logged, so each is logged once
local challenge, challenge_invalid, challenge_request

local function sha256_hex(s)
    crypto.SHA256(s, #s, digest)
    for i = 0, 31 do
        local b = digest[i]
        hex[i * 2] = HEX_DIGITS[rshift(b, 4)]
        hex[i * 2 + 1] = HEX_DIGITS[band(b, 15)]
    end
    return ffi.string(hex, 64)
end

local function parse(content)
    local parsed, count, bad, expiring = {}, 0, {}, {}
    local lineno = 0
    for line in (content .. "\n"):gmatch("([^\n]*)\n") do
        lineno = lineno + 1
        if not line:find("^%s*$") and not line:find("^%s*#") then
            local name, sum, expiry = line:match("^%s*([^:%s]+):(%x+):(%d+)%s*$")
            if not name then
                name, sum = line:match("^%s*([^:%s]+):(%x+)%s*$")
            end
            if name and #sum == 64 then
                sum = sum:lower()
                if not parsed[sum] then
                    count = count + 1
                end
                parsed[sum] = name
                expiring[sum] = tonumber(expiry)
            else
                -- Line numbers only: a bad line might hold a plaintext key.
                bad[#bad + 1] = lineno
            end
        end
    end
    return parsed, count, bad, expiring
end

local function fail_closed(reason)
    if problem ~= reason then
        ngx.log(ngx.ERR, "ollama-gate: keys file ", conf.keys_file, " ", reason,
                "; refusing every request until it can be read")
        problem = reason
    end
    keys, loaded, expiries = nil, nil, nil
end

local function reload()
    local file, err = io_open(conf.keys_file, "rb")
    if not file then
        return fail_closed("cannot be opened (" .. tostring(err) .. ")")
    end
    local content, read_err = file:read("*a")
    file:close()
    if not content then
        return fail_closed("cannot be read (" .. tostring(read_err) .. ")")
    end
    if keys and content == loaded then
        return
    end
    local parsed, count, bad, expiring = parse(content)
    if #bad > 0 then
        ngx.log(ngx.WARN, "ollama-gate: keys file ", conf.keys_file,
                ": ignored malformed line(s) ", table.concat(bad, ","))
    end
    keys, loaded, problem, expiries = parsed, content, nil, expiring
    ngx.log(ngx.NOTICE, "ollama-gate: loaded ", count, " key digest(s) from ", conf.keys_file)
end

local function tick(premature)
    if premature then
        return
    end
    local ok, err = pcall(reload)
    if not ok then
        fail_closed("failed to load (" .. tostring(err) .. ")")
    end
end

function _M.init_worker(options)
    conf = options
    local realm = 'Bearer realm="' .. options.realm .. '"'
    challenge = realm
    challenge_invalid = realm .. ', error="invalid_token"'
    challenge_request = realm .. ', error="invalid_request"'
    tick(false)
    local ok, err = ngx.timer.every(RELOAD_INTERVAL, tick)
    if not ok then
        ngx.log(ngx.ERR, "ollama-gate: cannot start the keys reload timer: ", err)
    end
end

local function deny(status, header)
    ngx.header["WWW-Authenticate"] = header
    return ngx.exit(status)
end

-- The hot path avoids Lua patterns (string.match is not compiled by LuaJIT's JIT): the
-- scheme is compared with sub/lower, and the token is hashed as sent. Its syntax is only
-- checked when no digest matches, to answer 400 rather than 401 (RFC 6750 section 3.1).
function _M.access()
    local authorization = ngx.var.http_authorization
    if not authorization then
        return deny(ngx.HTTP_UNAUTHORIZED, challenge)
    end
    if lower(sub(authorization, 1, 7)) ~= "bearer " then
        -- Another scheme, or none: no bearer credentials at all.
        return deny(ngx.HTTP_UNAUTHORIZED, challenge)
    end
    local first = 8
    while byte(authorization, first) == SPACE do
        first = first + 1
    end
    local token = sub(authorization, first)
    if #token > MAX_TOKEN then
        return deny(ngx.HTTP_BAD_REQUEST, challenge_request)
    end
    if not keys then
        ngx.log(ngx.ERR, "ollama-gate: refusing request: keys file ", conf.keys_file,
                " is unavailable (", tostring(problem), ")")
        return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
    end
    local sum = sha256_hex(token)
    local name = keys[sum]
    if name then
        local expiry = expiries[sum]
        if expiry and ngx.now() >= expiry then
            -- Expired: refused like an unknown key; the access log names it.
            ngx.var.ollama_gate_user = name
            return deny(ngx.HTTP_UNAUTHORIZED, challenge_invalid)
        end
    else
        -- nginx strips trailing spaces from header values, so a b64token is all there is.
        if not find(token, "^[%w%-%._~%+/]+=*$") then
            return deny(ngx.HTTP_BAD_REQUEST, challenge_request)
        end
        return deny(ngx.HTTP_UNAUTHORIZED, challenge_invalid)
    end
    ngx.var.ollama_gate_user = name
end

return _M
