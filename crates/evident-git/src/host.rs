//! Host classification for the URL policy: is a host an IP literal, and is it private?
//!
//! Git hands hosts to curl and ssh, which accept more IPv4 spellings than dotted quads
//! (`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`). A policy that only recognised
//! `a.b.c.d` would let those through, so [`parse_ip_literal`] follows `inet_aton` rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parse `host` as an IP literal the way curl/`inet_aton` would: bracketed or bare IPv6,
/// or IPv4 in 1 to 4 parts, each decimal, octal (leading `0`) or hex (`0x`).
pub(crate) fn parse_ip_literal(host: &str) -> Option<IpAddr> {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    // Drop an IPv6 zone id (`fe80::1%eth0`, percent-encoded as `%25eth0` in URLs).
    let without_zone = unbracketed.split('%').next().unwrap_or(unbracketed);
    if let Ok(v6) = without_zone.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(v6));
    }
    parse_ipv4_loose(host.trim_end_matches('.')).map(IpAddr::V4)
}

fn parse_ipv4_loose(host: &str) -> Option<Ipv4Addr> {
    if host.is_empty() {
        return None;
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for part in &parts {
        nums.push(parse_ipv4_part(part)?);
    }
    let (last, init) = nums.split_last()?;
    let mut value: u64 = 0;
    for n in init {
        if *n > 255 {
            return None;
        }
        value = (value << 8) | n;
    }
    let remaining_bits = 8 * (4 - init.len() as u32);
    if *last >= (1u64 << remaining_bits) {
        return None;
    }
    value = (value << remaining_bits) | last;
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

fn parse_ipv4_part(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        // `0x` alone is 0 for inet_aton.
        return if radix == 16 { Some(0) } else { None };
    }
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// True when an address is not a public unicast address: loopback, private, link-local
/// (cloud metadata lives at 169.254.169.254), CGNAT, unspecified, multicast, reserved,
/// documentation and benchmarking ranges, and IPv6 forms that embed such an IPv4 address.
pub(crate) fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_private_v4(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || (seg[0] == 0x0100 && seg[1..4] == [0, 0, 0]) // discard-only 100::/64
}

/// IPv4 addresses carried inside IPv6 ones: mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let tail = || {
        Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        )
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if seg[..6] == [0, 0, 0, 0, 0, 0] && !(seg[6] == 0 && seg[7] <= 1) {
        return Some(tail());
    }
    if seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        return Some(tail());
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        ));
    }
    None
}

/// Host names that always mean this machine, whatever DNS says.
pub(crate) fn is_local_name(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h == "localhost.localdomain"
        || h == "ip6-localhost"
        || h == "ip6-loopback"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Option<Ipv4Addr> {
        match parse_ip_literal(s) {
            Some(IpAddr::V4(v)) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn inet_aton_spellings_are_recognised() {
        let lo = Some(Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(v4("127.0.0.1"), lo);
        assert_eq!(v4("127.1"), lo);
        assert_eq!(v4("127.0.1"), lo);
        assert_eq!(v4("2130706433"), lo);
        assert_eq!(v4("0x7f000001"), lo);
        assert_eq!(v4("0x7f.0.0.1"), lo);
        assert_eq!(v4("0177.0.0.1"), lo);
        assert_eq!(v4("127.0.0.1."), lo);
        assert_eq!(
            v4("169.254.169.254"),
            Some(Ipv4Addr::new(169, 254, 169, 254))
        );
        assert_eq!(v4("github.com"), None);
        assert_eq!(v4("256.0.0.1"), None);
        assert_eq!(v4("1.2.3.4.5"), None);
        assert_eq!(v4("08.0.0.1"), None);
    }

    #[test]
    fn private_ranges_are_private() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "[::1]",
            "::",
            "[fe80::1%25eth0]",
            "fd00::1",
            "::ffff:127.0.0.1",
            "[::ffff:a9fe:a9fe]",
            "64:ff9b::10.0.0.1",
            "2002:7f00:1::",
        ] {
            let ip = parse_ip_literal(s).unwrap_or_else(|| panic!("{s} parses"));
            assert!(is_private_ip(ip), "{s} should be private");
        }
        for s in ["140.82.112.3", "8.8.8.8", "2606:4700::1111"] {
            let ip = parse_ip_literal(s).unwrap();
            assert!(!is_private_ip(ip), "{s} should be public");
        }
    }

    #[test]
    fn localhost_names_are_local() {
        assert!(is_local_name("localhost"));
        assert!(is_local_name("LocalHost."));
        assert!(is_local_name("evil.localhost"));
        assert!(!is_local_name("localhost.example.com"));
    }
}
