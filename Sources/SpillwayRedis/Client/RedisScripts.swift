/// The Lua scripts the client runs on the server.
///
/// `package`: how ``RedisClient`` implements a throttle step or a write that returns the old
/// value's head is its own business; tests of this package reach the scripts directly.
package enum RedisScripts {
    /// One atomic GCRA step, deciding exactly as `GCRA.step` in Spillway's core.
    ///
    /// `KEYS[1]`: the limiter key. `ARGV`: emission interval (ns), capacity, cost, and optionally
    /// a fixed `now` as seconds and nanoseconds (for tests); otherwise `now` is the server's
    /// `TIME`. The stored value is the theoretical arrival time in nanoseconds since the Unix
    /// epoch, in decimal. Lua numbers are doubles, so the script never adds two epoch times: it
    /// works on seconds and nanoseconds separately and on differences, which stay exact below
    /// 2^53 ns (104 days). Replies `{allowed, remaining, retryAfterNs, resetAfterNs}`.
    package static let gcra = """
        local interval = tonumber(ARGV[1])
        local capacity = tonumber(ARGV[2])
        local cost = tonumber(ARGV[3])
        local now_s, now_n
        if ARGV[4] then
          now_s = tonumber(ARGV[4]); now_n = tonumber(ARGV[5])
        else
          local t = redis.call('TIME')
          now_s = tonumber(t[1]); now_n = tonumber(t[2]) * 1000
        end
        local tat_s, tat_n = now_s, now_n
        local raw = redis.call('GET', KEYS[1])
        if raw and #raw <= 19 and string.match(raw, '^%d+$') then
          local s, n = 0, tonumber(raw)
          if #raw > 9 then s = tonumber(string.sub(raw, 1, -10)); n = tonumber(string.sub(raw, -9)) end
          if s > now_s or (s == now_s and n > now_n) then tat_s, tat_n = s, n end
        end
        local window = interval * capacity
        local ahead = (tat_s - now_s) * 1000000000 + (tat_n - now_n)
        local used = ahead + interval * cost
        if used > window then
          return {0, 0, used - window, ahead}
        end
        local remaining = capacity
        if interval > 0 then remaining = math.floor((window - used) / interval) end
        if remaining < 0 then remaining = 0 end
        local total = now_n + used
        local new_s = now_s + math.floor(total / 1000000000)
        local new_n = total % 1000000000
        local ttl = math.ceil(math.max(1, used) / 1000000)
        redis.call('SET', KEYS[1], string.format('%d%09d', new_s, new_n), 'PX', ttl)
        return {1, remaining, 0, used}
        """

    /// The SHA-1 of ``previousHead`` (what `SCRIPT LOAD` returns; a test checks it), so the
    /// client's first call can be one `EVAL` that also loads it, and later ones `EVALSHA`.
    package static let previousHeadSHA1 = "785b5ea3bdb40b0674a0d213cf8b647e780b45a8"

    /// A `SET`, `DEL` or `PEXPIRE` that also returns, atomically, only the first bytes (the
    /// head) of the value the key held before: what ``CacheCapabilities/returnsPreviousHead``
    /// promises, so the spill finds an old pointer without the old value crossing the wire.
    ///
    /// `KEYS[1]`: the key. `ARGV[1]`: `set`, `del` or `pexpire`; `ARGV[2]`: how many bytes of the
    /// old value to return (0 returns none); for `set`, `ARGV[3…]` are `SET`'s arguments after
    /// the key (value, then `NX`/`XX`, `PX ms`, `KEEPTTL`); for `pexpire`, `ARGV[3]` is the TTL
    /// in milliseconds. A key holding another type is overwritten by `set` as plain `SET` does,
    /// and has no head. Replies `{done, hadString, head}`: `done` is 1 when the `SET` stored
    /// (else 0), or `DEL`'s or `PEXPIRE`'s integer; `hadString` is 1 when the key held a string.
    ///
    /// It has no shebang on purpose: the server then checks OOM only when the script calls a
    /// write that needs memory (`SET`), so `del` and `pexpire` keep working at `maxmemory` as
    /// `DEL` and `PEXPIRE` do, and a refused `SET` fails the script with the `-OOM` error.
    package static let previousHead = """
        local t = redis.call('TYPE', KEYS[1])['ok']
        local n = tonumber(ARGV[2])
        local head = ''
        if t == 'string' and n > 0 then head = redis.call('GETRANGE', KEYS[1], 0, n - 1) end
        local op = ARGV[1]
        local done
        if op == 'set' then
          if redis.call('SET', KEYS[1], unpack(ARGV, 3)) then done = 1 else done = 0 end
        elseif op == 'del' then
          done = redis.call('DEL', KEYS[1])
        elseif op == 'pexpire' then
          done = redis.call('PEXPIRE', KEYS[1], ARGV[3])
        else
          return redis.error_reply('ERR unknown operation for the previous-head script')
        end
        local had = 0
        if t == 'string' then had = 1 end
        return {done, had, head}
        """

    /// The SHA-1 of ``msetHeads`` (a test checks it against `SCRIPT LOAD`).
    package static let msetHeadsSHA1 = "0d228363cd81593d9db26b4b707debd406d71c37"

    /// An `MSET` (each key optionally with the same TTL) that also returns, atomically, only the
    /// first bytes (the head) of the value each key held before: the batched form of
    /// ``previousHead``, for ``CacheOperation/msetReturningHeads(_:ttl:headBytes:)``.
    ///
    /// `KEYS`: the keys (on a cluster, of one slot). `ARGV[1]`: how many bytes of each old value
    /// to return (0 returns none); `ARGV[2]`: the TTL in milliseconds, or `0` for none;
    /// `ARGV[3…]`: the values, one per key, in order. Every head is read before any write, so a
    /// key given twice gets the value from before the script, twice. A key holding another type
    /// is overwritten as `MSET` does, and has no head. Replies `{hadString1, head1, hadString2,
    /// head2, …}`.
    ///
    /// No shebang, as ``previousHead``: the server refuses the script with `-OOM` at its first
    /// `SET` when memory is full, before anything is written; once it has written it runs to the
    /// end, so the keys are all written or none.
    package static let msetHeads = """
        local n = tonumber(ARGV[1])
        local out = {}
        for i, key in ipairs(KEYS) do
          local had, head = 0, ''
          if redis.call('TYPE', key)['ok'] == 'string' then
            had = 1
            if n > 0 then head = redis.call('GETRANGE', key, 0, n - 1) end
          end
          out[2 * i - 1] = had
          out[2 * i] = head
        end
        local ms = ARGV[2]
        for i, key in ipairs(KEYS) do
          if ms == '0' then
            redis.call('SET', key, ARGV[i + 2])
          else
            redis.call('SET', key, ARGV[i + 2], 'PX', ms)
          end
        end
        return out
        """
}
