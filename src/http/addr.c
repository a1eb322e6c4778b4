/*
 * This file implements IP address handling for the HTTP allow-list:
 * parsing, IPv4-mapped unmapping, CIDR membership, the table of special
 * ranges a skill may not reach by default, and the normalisation of a URL
 * host (so that 2130706433, 0177.0.0.1, 0x7f.1 and [::ffff:127.0.0.1] are
 * all judged as 127.0.0.1).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "http/http_internal.h"

bool cis__ip_parse(const char *s, cis__ip *out) {
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, s, out->b) == 1) {
    out->family = 4;
    return true;
  }
  if (inet_pton(AF_INET6, s, out->b) == 1) {
    out->family = 6;
    return true;
  }
  return false;
}

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void cis__ip_unmap(cis__ip *ip) {
  if (ip->family != 6 || memcmp(ip->b, v4mapped_prefix, 12) != 0) return;
  memmove(ip->b, ip->b + 12, 4);
  memset(ip->b + 4, 0, 12);
  ip->family = 4;
}

void cis__ip_format(const cis__ip *ip, char *dst, size_t cap) {
  char tmp[INET6_ADDRSTRLEN];
  if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->b, tmp, sizeof tmp)) tmp[0] = '\0';
  snprintf(dst, cap, "%s", tmp);
}

bool cis__ip_in(const cis__ip *ip, const cis__ip *net, unsigned prefix) {
  if (ip->family != net->family) return false;
  unsigned bits = ip->family == 4 ? 32 : 128;
  if (prefix > bits) return false;
  unsigned full = prefix / 8, rest = prefix % 8;
  if (memcmp(ip->b, net->b, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (ip->b[full] & mask) == (net->b[full] & mask);
}

/* One special range. */
typedef struct special_range {
  const char *net;    /* network address */
  unsigned prefix;    /* prefix length */
  const char *what;   /* why it is special, for messages */
} special_range;

/* Checked in order, so the most specific entries come first (the metadata
 * addresses lie inside link-local and unique-local ranges). */
static const special_range special_ranges[] = {
    {"169.254.169.254", 32, "cloud metadata"},
    {"fd00:ec2::254", 128, "cloud metadata"},
    {"0.0.0.0", 8, "unspecified (this network)"},
    {"10.0.0.0", 8, "private"},
    {"100.64.0.0", 10, "shared (carrier-grade NAT)"},
    {"127.0.0.0", 8, "loopback"},
    {"169.254.0.0", 16, "link-local"},
    {"172.16.0.0", 12, "private"},
    {"192.0.0.0", 24, "reserved (IETF protocol assignments)"},
    {"192.168.0.0", 16, "private"},
    {"198.18.0.0", 15, "reserved (benchmarking)"},
    {"224.0.0.0", 4, "multicast"},
    {"240.0.0.0", 4, "reserved"}, /* includes 255.255.255.255 */
    {"::", 128, "unspecified"},
    {"::1", 128, "loopback"},
    {"::", 96, "reserved (IPv4-compatible)"},
    {"100::", 64, "reserved (discard)"},
    {"fc00::", 7, "private (unique local)"},
    {"fe80::", 10, "link-local"},
    {"fec0::", 10, "private (site-local)"},
    {"ff00::", 8, "multicast"},
};

/* An address that carries an IPv4 address inside (NAT64 64:ff9b::/96,
 * 6to4 2002::/16) is as special as the IPv4 address it carries. */
static bool embedded_v4(const cis__ip *ip, cis__ip *v4) {
  static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (ip->family != 6) return false;
  memset(v4, 0, sizeof *v4);
  v4->family = 4;
  if (memcmp(ip->b, nat64, 12) == 0) {
    memcpy(v4->b, ip->b + 12, 4);
    return true;
  }
  if (ip->b[0] == 0x20 && ip->b[1] == 0x02) {
    memcpy(v4->b, ip->b + 2, 4);
    return true;
  }
  return false;
}

const char *cis__ip_special(const cis__ip *addr) {
  cis__ip ip = *addr;
  cis__ip_unmap(&ip);
  for (size_t i = 0; i < CIS_ARRAY_LEN(special_ranges); i++) {
    cis__ip net;
    if (!cis__ip_parse(special_ranges[i].net, &net)) continue;
    if (cis__ip_in(&ip, &net, special_ranges[i].prefix)) return special_ranges[i].what;
  }
  cis__ip v4;
  if (embedded_v4(&ip, &v4)) {
    const char *what = cis__ip_special(&v4);
    if (what) return "IPv6 wrapping a special IPv4 address";
  }
  return NULL;
}

/* ------------------------------------------------------------------ hosts */

/* True when every label of name is 1..63 of [a-z0-9-_] (already lower-
 * cased) and the whole is at most 253 bytes. */
static bool valid_name(const char *name) {
  size_t n = strlen(name), label = 0;
  if (n == 0 || n > 253) return false;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    if (ch == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!(islower((unsigned char)ch) || isdigit((unsigned char)ch) || ch == '-' || ch == '_'))
      return false;
    if (++label > 63) return false;
  }
  return label > 0;
}

/* Normalises a host from curl's URL parser. Address literals come first,
 * in every notation the system resolver would accept (inet_aton takes the
 * decimal, octal, hex and short forms), so that no spelling of an address
 * is ever judged as a host name. */
cis_result cis__host_parse(const char *curl_host, cis__host *out, char *why, size_t why_cap) {
  memset(out, 0, sizeof *out);
  size_t n = strlen(curl_host);
  if (n == 0 || n >= sizeof out->name) {
    snprintf(why, why_cap, "host is empty or too long");
    return CIS_EINVAL;
  }
  if (curl_host[0] == '[') {
    char inner[sizeof out->name];
    if (n < 3 || curl_host[n - 1] != ']') goto fail;
    memcpy(inner, curl_host + 1, n - 2);
    inner[n - 2] = '\0';
    if (inet_pton(AF_INET6, inner, out->ip.b) != 1) goto fail;
    out->ip.family = 6;
    out->is_ip = true;
    cis__ip_unmap(&out->ip);
    cis__ip_format(&out->ip, out->name, sizeof out->name);
    return CIS_OK;
  }

  char lower[sizeof out->name];
  for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)curl_host[i]);
  if (n > 1 && lower[n - 1] == '.') lower[--n] = '\0';

  struct in_addr a4;
  bool numeric = true;
  for (size_t i = 0; i < n; i++)
    if (!(isxdigit((unsigned char)lower[i]) || lower[i] == '.' || lower[i] == 'x')) numeric = false;
  if (numeric && inet_aton(lower, &a4) == 1) {
    out->is_ip = true;
    out->ip.family = 4;
    memcpy(out->ip.b, &a4, 4);
    cis__ip_format(&out->ip, out->name, sizeof out->name);
    return CIS_OK;
  }
  if (!valid_name(lower)) goto fail;
  memcpy(out->name, lower, n + 1);
  return CIS_OK;
fail:
  snprintf(why, why_cap, "host '%.100s' is not a valid name or address", curl_host);
  return CIS_EINVAL;
}
