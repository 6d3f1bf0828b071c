-- matt-serve's guard in front of Triton's HTTP inference route (nginx, lua-nginx-module).
--
-- Why it exists: Triton 2.51's HTTP front allocates a JSON input's *declared* size before it
-- checks the shape against the model, so a 100-byte body declaring 2^62 elements aborts the
-- whole server. nginx alone cannot look inside a body, so this access-phase handler
--   1. reads the body itself under one deadline for the whole body (nginx's own
--      client_body_timeout only bounds the gap between two reads, so a body sent at one byte
--      per second would be held for ever), refusing chunked and compressed bodies and any
--      Content-Length over the limit before a byte is read;
--   2. scans the JSON part lexically for every array of numbers and refuses the request when
--      the product of one array's values exceeds what a body of the allowed size can carry.
--      The scan is deliberately not a JSON parse: it sees every array whatever its key is
--      called or how the key is escaped, and duplicate keys cannot hide a shape from it.
--      Arrays of pixel values in [0, 1] have products <= 1, so valid requests pass.
--   3. refuses JSON nested deeper than MAX_DEPTH: Triton's parser recurses per level, and a
--      body of a million '[' overflows its stack (SIGSEGV, found while testing this guard).
-- The body then goes to Triton unchanged (ngx.req.init_body / append_body / finish_body).

local MAX_BODY = tonumber(ngx.var.matt_max_body_bytes)
local BODY_SECONDS = tonumber(ngx.var.matt_body_seconds)
local CHUNK = 65536
local MAX_DEPTH = 32 -- a valid request nests 7 deep at most (nested NCHW data)

local function refuse(status, message)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Connection"] = "close"
    ngx.say('{"error":"' .. message:gsub('[\\"]', "") .. '"}')
    return ngx.exit(status)
end

local function absurd_array(text)
    -- Every '[' ... ']' holding only numbers, commas and blanks; returns the first product over
    -- MAX_BODY (as a string for the message) or nil.
    for body in text:gmatch("%[([%d%s,%.eE%+%-]*)%]") do
        local product = 1
        for number in body:gmatch("[^%s,]+") do
            local value = tonumber(number)
            if value == nil then
                return number
            end
            product = product * math.abs(value)
            if product > MAX_BODY then
                return "[" .. body:gsub("%s", ""):sub(1, 80) .. "]"
            end
        end
    end
    return nil
end

local function too_deep(text)
    -- brackets outside strings only: drop escapes, then strings, then everything else
    local brackets = text:gsub("\\.", ""):gsub('"[^"]*"', ""):gsub("[^%[%]{}]", "")
    local depth = 0
    for i = 1, #brackets do
        local c = brackets:byte(i)
        if c == 91 or c == 123 then -- [ {
            depth = depth + 1
            if depth > MAX_DEPTH then
                return true
            end
        else
            depth = depth - 1
        end
    end
    return false
end

local headers = ngx.req.get_headers()
if headers["content-encoding"] then
    return refuse(415, "compressed request bodies are not accepted; send the body uncompressed")
end
if headers["transfer-encoding"] then
    return refuse(411, "chunked request bodies are not accepted; send a Content-Length")
end
local length = tonumber(headers["content-length"])
if length == nil or length < 0 or length % 1 ~= 0 then
    return refuse(411, "an inference request needs a Content-Length")
end
if length > MAX_BODY then
    return refuse(413, "the request body of " .. length .. " bytes is over the limit of "
                  .. MAX_BODY .. " bytes")
end
local header_length = length
local declared = headers["inference-header-content-length"]
if declared ~= nil then
    header_length = tonumber(declared)
    if header_length == nil or header_length < 0 or header_length > length
            or header_length % 1 ~= 0 then
        return refuse(400, "Inference-Header-Content-Length must be a byte count within the body")
    end
end

local sock, err = ngx.req.socket()
if not sock then
    return refuse(400, "cannot read the request body (" .. tostring(err) .. ")")
end
local deadline = ngx.now() + BODY_SECONDS
local header_parts, header_seen, remaining = {}, 0, length
ngx.req.init_body()
while remaining > 0 do
    local left = deadline - ngx.now()
    if left <= 0 then
        return refuse(408, "the request body took longer than " .. BODY_SECONDS .. " s")
    end
    -- receiveany: whatever has arrived, so that a trickle cannot re-arm the timeout for ever.
    -- A trickle is answered 408 at the deadline; a client that sends nothing at all is cut
    -- 1.5 s later without an answer (after a socket timeout nginx sends nothing more).
    sock:settimeout(math.floor(left * 1000) + 1500)
    local chunk, read_err = sock:receiveany(math.min(remaining, CHUNK))
    if not chunk then
        return ngx.exit(444) -- stalled past the deadline, or gone: close without an answer
    end
    if header_seen < header_length then
        header_parts[#header_parts + 1] = chunk:sub(1, header_length - header_seen)
        header_seen = header_seen + #header_parts[#header_parts]
    end
    ngx.req.append_body(chunk)
    remaining = remaining - #chunk
end
ngx.req.finish_body()

local header = table.concat(header_parts)
if too_deep(header) then
    return refuse(400, "the request JSON nests deeper than " .. MAX_DEPTH .. " levels")
end
local absurd = absurd_array(header)
if absurd ~= nil then
    return refuse(400, "the request declares the array " .. absurd .. ", more elements than a "
                  .. "body of at most " .. MAX_BODY .. " bytes can carry")
end
