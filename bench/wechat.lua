-- wrk script: signed WeChat text messages, each with its own MsgId, from many riders.
--
--   wrk -t2 -c50 -d8s -s bench/wechat.lua "http://127.0.0.1:PORT/wechat?signature=...&timestamp=...&nonce=..." \
--       -- TEXTS_FILE RUN_ID RIDERS_PER_THREAD MODE [THINK_MS]
--
-- The signature covers token, timestamp and nonce only (not the body), so bench/run.py signs
-- one URL per run and the body changes with every request.
-- MODE "spread": riders are taken in turn from RIDERS_PER_THREAD per thread.
-- MODE "riders": a rider sends again only after the reply to their last message came back
--   (the reply's ToUserName names them), so RIDERS_PER_THREAD = connections per thread gives
--   one rider per connection, each waiting for its answer before writing again.
--   THINK_MS > 0: each rider then pauses a random 0..2*THINK_MS before writing again, as a
--   person reading an answer and typing does; 0 sends at once (the saturation case).
-- done() prints one line "BENCH {json}" for bench/run.py.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local XML = "<xml><ToUserName><![CDATA[gh_union]]></ToUserName>"
  .. "<FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%d</CreateTime>"
  .. "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content>"
  .. "<MsgId>%s%d%08d</MsgId></xml>"
local HEADERS = {["Content-Type"] = "text/xml"}

function init(args)
  texts = {}
  for line in io.lines(args[1]) do
    if #line > 0 then texts[#texts + 1] = line end
  end
  run = args[2]
  riders = tonumber(args[3])
  mode = args[4]
  think = tonumber(args[5] or "0")
  sent, lost, extra = 0, 0, 0
  pool = {}
  for i = 1, riders do pool[i] = rider_name(i) end
  if mode == "riders" then
    response = function(status, headers, body)
      local openid = body and body:match("<ToUserName><!%[CDATA%[(.-)%]%]></ToUserName>")
      if openid then
        pool[#pool + 1] = openid
      else
        lost = lost + 1 -- no reply to read the rider from: a new rider takes the place
      end
    end
  end
end

function rider_name(i)
  return string.format("o%s-t%d-r%06d", run, id, i)
end

function delay()
  if think > 0 then return math.random(0, 2 * think) end
  return 0
end

function request()
  sent = sent + 1
  local openid
  if mode == "riders" then
    openid = table.remove(pool)
    if openid == nil then
      extra = extra + 1
      openid = rider_name(riders + extra)
    end
  else
    openid = pool[sent % riders + 1]
  end
  local text = texts[(sent * 7 + id * 13) % #texts + 1]
  local body = string.format(XML, openid, os.time(), text, run, id, sent)
  return wrk.format("POST", nil, HEADERS, body)
end

function done(summary, latency, requests)
  local lost_total = 0
  for _, t in ipairs(threads) do lost_total = lost_total + t:get("lost") end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "bytes": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
    .. '"write_errors": %d, "status_errors": %d, "timeouts": %d, "p50_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "lost_riders": %d}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, lost_total))
end
