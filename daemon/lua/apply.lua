--[[ apply.lua: one engwatch batch applied as one atomic step (called by
daemon/store.c through EVALSHA; see ew_store_apply in include/engwatch/store.h).

KEYS[1]      the positions hash, "<prefix>positions": field = position name
             ("topic:partition" or "file:<path>"), value = last applied offset
             as a decimal string.
KEYS[2..]    every key the ops touch, each exactly once.

ARGV         a flat list read left to right; every count and offset is a
             decimal integer string:
               npos
               npos times:  name  first  last        (0 <= first <= last)
               nops
               nops times:  opcode  n  arg1 .. argn
             opcode is one of HSET HINCRBY HDEL PFADD PEXPIRE EXPIRE XADD SET
             DEL UNLINK (upper case); n counts the arguments after the opcode.
             Key arguments are not given by name but as their index into KEYS
             (2 .. #KEYS): the first argument of every op, and every argument
             of DEL and UNLINK.
             Example: positions {t:0, 10..19}, ops HINCRBY ew:a f 1; PEXPIRE ew:a 60000
               KEYS = {ew:positions, ew:a}
               ARGV = {1, t:0, 10, 19, 2, HINCRBY, 3, 2, f, 1, PEXPIRE, 2, 2, 60000}

Reply        {"OK", nops}             applied; every position now at its last
             {"DUPLICATE"}            every stored position >= its last: the batch
                                      was applied before; nothing changed
             {"CONFLICT", name, stored, ...}
                                      some stored position >= its first (the
                                      positions listed): nothing changed
             error "ERR ew-apply: ..." malformed ARGV, an op that is not allowed,
                                      a wrong argument count or a key holding
                                      the wrong type: nothing changed

Atomicity: Redis 7 does not roll back a script that fails half-way, so every
check runs before the first write: the ARGV is parsed and validated in full,
the positions are read and compared, and each key's type is checked against
the ops (following the types the ops themselves give keys).  What cannot be
checked in advance are value errors that only a caller bug can cause (HINCRBY
on a field that holds no integer, PFADD on a string that is no HyperLogLog,
XADD options Redis rejects); those fail at their op.

Offsets are compared as decimal strings (length, then 15-digit pieces), so
values past 2^53 stay exact.  Ops with many elements (HSET, HDEL, PFADD, DEL,
UNLINK) are split into calls of at most CHUNK elements, since Lua's unpack
cannot spread more than about 8000 values; XADD cannot be split and is
limited to MAX_PLAIN arguments.
]]

local CHUNK = 1000
local MAX_PLAIN = 4000

-- keys: 'first' (first argument is a key) or 'all' (every argument is).
-- min/max: allowed n.  group: the op is split after its key into calls of
-- whole groups of this many arguments.  want: the type the key must hold (or
-- be absent); makes: its type afterwards.  int: argument that must be an
-- integer.  cond: optional argument that must be NX XX GT or LT.
local OPS = {
    HSET = {keys = 'first', min = 3, group = 2, want = 'hash', makes = 'hash'},
    HINCRBY = {keys = 'first', min = 3, max = 3, int = 3, want = 'hash', makes = 'hash'},
    HDEL = {keys = 'first', min = 2, group = 1, want = 'hash'},
    PFADD = {keys = 'first', min = 1, group = 1, want = 'string', makes = 'string'},
    PEXPIRE = {keys = 'first', min = 2, max = 3, int = 2, cond = 3},
    EXPIRE = {keys = 'first', min = 2, max = 3, int = 2, cond = 3},
    XADD = {keys = 'first', min = 4, max = MAX_PLAIN, want = 'stream', makes = 'stream'},
    SET = {keys = 'first', min = 2, max = 8, makes = 'string'},
    DEL = {keys = 'all', min = 1, group = 1, makes = 'none'},
    UNLINK = {keys = 'all', min = 1, group = 1, makes = 'none'},
}
local CONDS = {NX = true, XX = true, GT = true, LT = true}

local function fail(msg)
    return redis.error_reply('ERR ew-apply: ' .. msg)
end

-- a count: non-negative decimal integer
local function count(s)
    if s and #s <= 9 and string.match(s, '^%d+$') then
        return tonumber(s)
    end
    return nil
end

-- an offset in canonical form (no sign, no leading zero)
local function offset(s)
    return s ~= nil and #s <= 20 and (s == '0' or string.match(s, '^[1-9]%d*$') ~= nil)
end

-- compare canonical offsets exactly: -1, 0, 1
local function cmp(a, b)
    if #a ~= #b then
        return #a < #b and -1 or 1
    end
    for i = 1, #a, 15 do
        local x, y = tonumber(string.sub(a, i, i + 14)), tonumber(string.sub(b, i, i + 14))
        if x ~= y then
            return x < y and -1 or 1
        end
    end
    return 0
end

-- redis.call(cmd, head, list[i..j]) in pieces of at most `per` list elements
local function chunked(cmd, head, list, i, j, per)
    local out = {}
    if i > j then
        out[1] = redis.call(cmd, head)
        return out
    end
    while i <= j do
        local e = math.min(j, i + per - 1)
        local r = redis.call(cmd, head, unpack(list, i, e))
        if type(r) == 'table' then
            for _, v in ipairs(r) do
                out[#out + 1] = v
            end
        end
        i = e + 1
    end
    return out
end

-- ---- parse and validate everything: no Redis call yet ----
local a = 1
local npos = count(ARGV[a])
if not npos then
    return fail('ARGV[1]: position count expected')
end
a = a + 1
local names, firsts, lasts = {}, {}, {}
for p = 1, npos do
    local name, first, last = ARGV[a], ARGV[a + 1], ARGV[a + 2]
    if not (name and offset(first) and offset(last)) or cmp(first, last) > 0 then
        return fail('position ' .. p .. ': name first last expected, 0 <= first <= last')
    end
    names[p], firsts[p], lasts[p] = name, first, last
    a = a + 3
end
local nops = count(ARGV[a])
if not nops then
    return fail('op count expected after the positions')
end
a = a + 1
local ops = {}
for o = 1, nops do
    local name, n = ARGV[a], count(ARGV[a + 1])
    local spec = name and OPS[name]
    if not spec then
        return fail('op ' .. o .. ': ' .. tostring(name) .. ' is not allowed')
    end
    if not n or n < spec.min or (spec.max and n > spec.max) or a + 1 + n > #ARGV then
        return fail('op ' .. o .. ' (' .. name .. '): wrong number of arguments')
    end
    local s = a + 2 -- ARGV index of the first argument
    if spec.group and (n - 1) % spec.group ~= 0 then
        return fail('op ' .. o .. ' (' .. name .. '): arguments must come in groups of ' .. spec.group)
    end
    local last_key = spec.keys == 'all' and s + n - 1 or s
    for k = s, last_key do
        local ki = count(ARGV[k])
        if not ki or ki < 2 or ki > #KEYS then
            return fail('op ' .. o .. ' (' .. name .. '): bad key index ' .. tostring(ARGV[k]))
        end
    end
    if spec.int and spec.int <= n and not string.match(ARGV[s + spec.int - 1], '^%-?%d+$') then
        return fail('op ' .. o .. ' (' .. name .. '): argument ' .. spec.int .. ' must be an integer')
    end
    if spec.cond and spec.cond <= n and not CONDS[ARGV[s + spec.cond - 1]] then
        return fail('op ' .. o .. ' (' .. name .. '): argument ' .. spec.cond .. ' must be NX XX GT or LT')
    end
    ops[o] = {name = name, spec = spec, s = s, n = n}
    a = s + n
end
if a ~= #ARGV + 1 then
    return fail('trailing arguments after op ' .. nops)
end

-- ---- the position guard ----
if npos > 0 then
    local stored = chunked('HMGET', KEYS[1], names, 1, npos, CHUNK)
    local dup, conflicts = true, {'CONFLICT'}
    for p = 1, npos do
        local v = stored[p]
        if not v then
            dup = false
        elseif not offset(v) then
            return fail('stored position ' .. names[p] .. ' is not an offset: ' .. v)
        else
            if cmp(v, lasts[p]) < 0 then
                dup = false
            end
            if cmp(v, firsts[p]) >= 0 then
                conflicts[#conflicts + 1] = names[p]
                conflicts[#conflicts + 1] = v
            end
        end
    end
    if dup then
        return {'DUPLICATE'}
    end
    if #conflicts > 1 then
        return conflicts
    end
end

-- ---- key types, following what the ops do to them ----
local types = {}
local function ktype(ki)
    local t = types[ki]
    if not t then
        t = redis.call('TYPE', KEYS[ki]).ok
        types[ki] = t
    end
    return t
end
for o = 1, nops do
    local op = ops[o]
    local spec = op.spec
    local last_key = spec.keys == 'all' and op.s + op.n - 1 or op.s
    for k = op.s, last_key do
        local ki = tonumber(ARGV[k])
        local t = ktype(ki)
        if spec.want and t ~= 'none' and t ~= spec.want then
            return fail('op ' .. o .. ' (' .. op.name .. '): ' .. KEYS[ki] .. ' holds a ' .. t)
        end
        if spec.makes then
            types[ki] = spec.makes
        end
    end
end

-- ---- write ----
for o = 1, nops do
    local op = ops[o]
    local spec, s, n = op.spec, op.s, op.n
    if spec.keys == 'all' then
        local keys = {}
        for k = s, s + n - 1 do
            keys[#keys + 1] = KEYS[tonumber(ARGV[k])]
        end
        chunked(op.name, keys[1], keys, 2, #keys, CHUNK)
    elseif spec.group then
        local per = spec.group * math.floor(CHUNK / spec.group)
        chunked(op.name, KEYS[tonumber(ARGV[s])], ARGV, s + 1, s + n - 1, per)
    else
        local args = {KEYS[tonumber(ARGV[s])]}
        for k = s + 1, s + n - 1 do
            args[#args + 1] = ARGV[k]
        end
        redis.call(op.name, unpack(args))
    end
end
if npos > 0 then
    local kv = {}
    for p = 1, npos do
        kv[#kv + 1] = names[p]
        kv[#kv + 1] = lasts[p]
    end
    chunked('HSET', KEYS[1], kv, 1, #kv, 2 * CHUNK)
end
return {'OK', nops}
