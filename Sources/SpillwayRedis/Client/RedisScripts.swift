/// The Lua scripts the client runs on the server.
public enum RedisScripts {
    /// One atomic GCRA step, deciding exactly as `GCRA.step` in Spillway's core.
    ///
    /// `KEYS[1]`: the limiter key. `ARGV`: emission interval (ns), capacity, cost, and optionally
    /// a fixed `now` as seconds and nanoseconds (for tests); otherwise `now` is the server's
    /// `TIME`. The stored value is the theoretical arrival time in nanoseconds since the Unix
    /// epoch, in decimal. Lua numbers are doubles, so the script never adds two epoch times: it
    /// works on seconds and nanoseconds separately and on differences, which stay exact below
    /// 2^53 ns (104 days). Replies `{allowed, remaining, retryAfterNs, resetAfterNs}`.
    public static let gcra = """
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
}
