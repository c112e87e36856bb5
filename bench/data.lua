-- wrk script for bench/data.sh: the four protocol headers of the data path,
-- with a new X-Request-ID (a v4-shaped UUID) per request. The token and the
-- agreement come from the environment (DUPLA_TOKEN, DUPLA_AGREEMENT); the
-- path from the command line.
local token = os.getenv("DUPLA_TOKEN") or ""
local agreement = os.getenv("DUPLA_AGREEMENT") or ""
local counter = 0

local function uuid()
  local t = {}
  for i = 1, 32 do t[i] = string.format("%x", math.random(0, 15)) end
  t[13] = "4"
  return table.concat(t, "", 1, 8) .. "-" .. table.concat(t, "", 9, 12) .. "-" ..
         table.concat(t, "", 13, 16) .. "-" .. table.concat(t, "", 17, 20) .. "-" ..
         table.concat(t, "", 21, 32)
end

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() + (seed or 0) * 7919)
end

request = function()
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["X-Request-ID"] = uuid(),
    ["X-Transaktions-ID"] = "bench-job",
    ["UFST-Adgangsgrundlag"] = "urn:ufst:adgangsgrundlag:aftale:" .. agreement,
  }
  return wrk.format("GET", nil, headers)
end
