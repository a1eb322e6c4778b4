/*
 * This file implements the tests of the HTTP service (src/http): rule
 * parsing, URL judging (every known bypass: other hosts and ports,
 * redirects, user information, numeric and IPv6-mapped spellings of
 * loopback, special address ranges), and real requests against mock
 * servers on 127.0.0.1 (success, caps, deadlines, redirects, credential
 * stripping, connect-time address checks).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cis/cis_http.h"
#include "common/internal.h"
#include "net/mock_server.h"

/* ------------------------------------------------------------- helpers */

/* A policy of the given rules (NULL-terminated); every rule must parse. */
static cis_http_policy *policy_of(const char *first, ...) {
  cis_http_policy *p;
  assert_int_equal(cis_http_policy_new(&p), CIS_OK);
  va_list ap;
  va_start(ap, first);
  for (const char *r = first; r; r = va_arg(ap, const char *)) {
    cis_result rc = cis_http_policy_add(p, r);
    if (rc != CIS_OK) fprintf(stderr, "rule '%s': %s\n", r, cis_errmsg(p));
    assert_int_equal(rc, CIS_OK);
  }
  va_end(ap);
  return p;
}

/* Asserts that url is denied by p and that the reason mentions `says`. */
static void expect_denied(const cis_http_policy *p, const char *url, const char *says) {
  char why[512];
  cis_result rc = cis_http_policy_check_url(p, url, why, sizeof why);
  if (rc != CIS_EDENIED || (says && !strstr(why, says)))
    fprintf(stderr, "url %s: rc=%s why='%s' (want '%s')\n", url, cis_errname(rc), why,
            says ? says : "");
  assert_int_equal(rc, CIS_EDENIED);
  if (says) assert_non_null(strstr(why, says));
}

static void expect_allowed(const cis_http_policy *p, const char *url) {
  char why[512];
  cis_result rc = cis_http_policy_check_url(p, url, why, sizeof why);
  if (rc != CIS_OK) fprintf(stderr, "url %s: %s %s\n", url, cis_errname(rc), why);
  assert_int_equal(rc, CIS_OK);
}

static void expect_addr(const cis_http_policy *p, const char *scheme, uint16_t port,
                        const char *ip, cis_result want, const char *says) {
  char why[512] = "";
  cis_result rc = cis_http_policy_check_addr(p, scheme, port, ip, why, sizeof why);
  if (rc != want || (says && !strstr(why, says)))
    fprintf(stderr, "addr %s: rc=%s why='%s'\n", ip, cis_errname(rc), why);
  assert_int_equal(rc, want);
  if (says) assert_non_null(strstr(why, says));
}

static char *fmt(const char *f, ...) {
  static _Thread_local char buf[4][1024];
  static _Thread_local int next;
  char *b = buf[next++ % 4];
  va_list ap;
  va_start(ap, f);
  vsnprintf(b, sizeof buf[0], f, ap);
  va_end(ap);
  return b;
}

static const cis_principal who = {.tenant = "acme", .skill = "fetcher"};

/* A GET with the given client, policy and time budget. */
static cis_result get(cis_http *h, const cis_http_policy *p, const char *url, uint64_t timeout_ms,
                      cis_http_response *resp) {
  cis_http_request req = {.url = url};
  return cis_http_fetch(h, p, &who, &req, timeout_ms, resp);
}

static cis_http *client(const cis_http_config *cfg) {
  cis_http *h;
  assert_int_equal(cis_http_new(cfg, &h), CIS_OK);
  return h;
}

/* ------------------------------------------------------------------ rules */

static void test_rule_parsing(void **state) {
  (void)state;
  cis_http_policy *p;
  assert_int_equal(cis_http_policy_new(&p), CIS_OK);
  const char *good[] = {"https://api.example.com", "http://127.0.0.1:8080", "*.example.org:*",
                        "fd00::/8", "http://[::1]:80", "https://[2001:db8::/32]", "10.0.0.0/8",
                        "HTTP://Example.COM./", "*", "example.net:443", "[fe80::1]"};
  for (size_t i = 0; i < CIS_ARRAY_LEN(good); i++) {
    cis_result rc = cis_http_policy_add(p, good[i]);
    if (rc) fprintf(stderr, "%s: %s\n", good[i], cis_errmsg(p));
    assert_int_equal(rc, CIS_OK);
  }
  assert_int_equal(cis_http_policy_count(p), CIS_ARRAY_LEN(good));
  const char *bad[] = {"",          "ftp://example.com", "http://",          "example.com:0",
                       "x.com:99999", "x.com:8o",        "[::1",             "10.0.0.0/33",
                       "[fd00::/129]", "a b.com",        "*.",               "*.10.0.0.1",
                       "http://[::1]x", "http://fd00::1", "exa$mple.com",    "http://host:",
                       "10.0.0.0/x"};
  for (size_t i = 0; i < CIS_ARRAY_LEN(bad); i++) {
    cis_result rc = cis_http_policy_add(p, bad[i]);
    if (rc != CIS_EINVAL) fprintf(stderr, "rule '%s' was accepted\n", bad[i]);
    assert_int_equal(rc, CIS_EINVAL);
    assert_true(cis_errmsg(p)[0] != '\0');
  }
  assert_int_equal(cis_http_policy_count(p), CIS_ARRAY_LEN(good));
  assert_int_equal(cis_http_policy_add(p, NULL), CIS_EINVAL);
  assert_int_equal(cis_http_policy_add(NULL, "x.com"), CIS_EINVAL);
  cis_http_policy_free(p);
}

static void test_default_deny(void **state) {
  (void)state;
  cis_http_policy *p = policy_of(NULL);
  expect_denied(p, "https://example.com/", "empty");
  cis_http_policy_free(p);
}

static void test_host_scheme_port(void **state) {
  (void)state;
  cis_http_policy *p = policy_of("https://api.example.com", NULL);
  expect_allowed(p, "https://api.example.com/v1/chat?x=1");
  expect_allowed(p, "https://api.example.com:443/");
  expect_allowed(p, "https://API.Example.COM./x");
  expect_denied(p, "http://api.example.com/", "scheme or port");
  expect_denied(p, "https://api.example.com:8443/", "https://api.example.com:8443");
  expect_denied(p, "https://evil.com/", "matches no rule");
  expect_denied(p, "https://api.example.com.evil.com/", "matches no rule");
  expect_denied(p, "ftp://api.example.com/", "scheme");
  expect_denied(p, "gopher://api.example.com/", "scheme");
  char why[256];
  assert_int_equal(cis_http_policy_check_url(p, "not a url", why, sizeof why), CIS_EINVAL);
  assert_int_equal(cis_http_policy_check_url(p, "https://münchen.de/", why, sizeof why), CIS_EINVAL);
  assert_int_equal(cis_http_policy_check_url(p, "https://api.example.com:0/", why, sizeof why),
                   CIS_EINVAL);
  cis_http_policy_free(p);

  p = policy_of("http://api.example.com:*", "example.net", NULL);
  expect_allowed(p, "http://api.example.com:1234/");
  expect_denied(p, "https://api.example.com:1234/", "scheme or port");
  expect_allowed(p, "http://example.net/");
  expect_allowed(p, "https://example.net/");
  expect_denied(p, "https://example.net:8443/", "scheme or port");
  cis_http_policy_free(p);
}

static void test_wildcard_subdomain_not_apex(void **state) {
  (void)state;
  cis_http_policy *p = policy_of("https://*.example.com", NULL);
  expect_allowed(p, "https://a.example.com/");
  expect_allowed(p, "https://a.b.example.com/");
  expect_denied(p, "https://example.com/", "matches no rule");
  expect_denied(p, "https://evilexample.com/", "matches no rule");
  expect_denied(p, "https://example.com.evil.org/", "matches no rule");
  cis_http_policy_free(p);
}

static void test_userinfo_judged_by_real_host(void **state) {
  (void)state;
  cis_http_policy *p = policy_of("http://allowed.test", NULL);
  /* the real host is evil.test: denied, and the reason names it */
  expect_denied(p, "http://allowed.test@evil.test/", "evil.test");
  expect_denied(p, "http://allowed.test:80@evil.test/", "evil.test");
  /* curl reads a backslash before @ as part of the user name */
  expect_denied(p, "http://evil.test\\@allowed.test/", "user information");
  /* the host is allowed, but user information is refused anyway */
  expect_denied(p, "http://user:pw@allowed.test/", "user information");
  expect_allowed(p, "http://allowed.test/path@notahost");
  cis_http_policy_free(p);
}

/* Only a host name rule exists: no spelling of loopback may pass. */
static void test_ip_literal_tricks_denied(void **state) {
  (void)state;
  cis_http_policy *p = policy_of("http://localhost", "http://allowed.test", NULL);
  const char *urls[] = {"http://127.0.0.1/",          "http://2130706433/",
                        "http://0177.0.0.1/",         "http://0x7f.0.0.1/",
                        "http://0x7f000001/",         "http://127.1/",
                        "http://017700000001/",       "http://[::ffff:127.0.0.1]/",
                        "http://[::ffff:7f00:1]/",    "http://127.0.0.1./"};
  for (size_t i = 0; i < CIS_ARRAY_LEN(urls); i++) expect_denied(p, urls[i], "127.0.0.1");
  expect_denied(p, "http://[::1]/", "::1");
  expect_denied(p, "http://0/", "0.0.0.0");
  expect_denied(p, "http://[fe80::1%25eth0]/", "zone");
  cis_http_policy_free(p);
}

/* The normalised address is what rules match: a rule for 127.0.0.1
 * allows each of its spellings. */
static void test_ip_literal_normalised_for_rules(void **state) {
  (void)state;
  cis_http_policy *p = policy_of("http://127.0.0.1:8080", NULL);
  expect_allowed(p, "http://127.0.0.1:8080/");
  expect_allowed(p, "http://2130706433:8080/");
  expect_allowed(p, "http://0177.0.0.1:8080/");
  expect_allowed(p, "http://[::ffff:127.0.0.1]:8080/");
  expect_denied(p, "http://127.0.0.2:8080/", "matches no rule");
  cis_http_policy_free(p);
}

static void test_special_addresses_refused(void **state) {
  (void)state;
  cis_http_policy *p = policy_of("*:*", NULL);
  struct {
    const char *ip;    /* address */
    const char *what;  /* expected reason */
  } special[] = {
      {"127.0.0.1", "loopback"},         {"127.255.0.9", "loopback"},
      {"::1", "loopback"},               {"10.1.2.3", "private"},
      {"172.16.0.1", "private"},         {"172.31.255.255", "private"},
      {"192.168.1.1", "private"},        {"100.64.0.1", "shared"},
      {"169.254.169.254", "metadata"},   {"fd00:ec2::254", "metadata"},
      {"169.254.1.1", "link-local"},     {"fe80::1", "link-local"},
      {"fc00::1", "private"},            {"fd12:3456::1", "private"},
      {"0.0.0.0", "unspecified"},        {"::", "unspecified"},
      {"224.0.0.1", "multicast"},        {"ff02::1", "multicast"},
      {"255.255.255.255", "reserved"},   {"::ffff:10.0.0.1", "private"},
      {"::ffff:169.254.169.254", "metadata"},
      {"64:ff9b::7f00:1", "wrapping"},   {"2002:7f00:1::", "wrapping"},
      {"::127.0.0.1", "IPv4-compatible"},
  };
  for (size_t i = 0; i < CIS_ARRAY_LEN(special); i++)
    expect_addr(p, "https", 443, special[i].ip, CIS_EDENIED, special[i].what);
  const char *public_[] = {"8.8.8.8", "172.32.0.1", "192.169.0.1", "2606:4700::1111",
                           "64:ff9b::808:808", "100.128.0.1"};
  for (size_t i = 0; i < CIS_ARRAY_LEN(public_); i++)
    expect_addr(p, "https", 443, public_[i], CIS_OK, NULL);
  expect_addr(p, "https", 443, "not-an-ip", CIS_EINVAL, NULL);
  /* "*" matches every host, but it does not name an address */
  expect_denied(p, "http://127.0.0.1/", "loopback");
  expect_denied(p, "http://169.254.169.254/latest/meta-data/", "metadata");
  expect_allowed(p, "http://8.8.8.8/");
  cis_http_policy_free(p);
}

static void test_cidr_rules(void **state) {
  (void)state;
  cis_http_policy *p = policy_of("http://10.0.0.0/8:*", "https://[fd00::/8]", "192.168.7.7", NULL);
  expect_allowed(p, "http://10.2.3.4:8080/");
  expect_allowed(p, "http://10.255.255.255/");
  expect_denied(p, "https://10.2.3.4/", "scheme or port");
  expect_denied(p, "http://11.0.0.1/", "matches no rule");
  expect_allowed(p, "https://[fd12::1]/");
  expect_denied(p, "https://[fe80::1]/", "matches no rule");
  expect_allowed(p, "http://192.168.7.7/");
  expect_denied(p, "http://192.168.7.8/", "matches no rule");
  /* address rules unlock the special ranges they cover, for their ports */
  expect_addr(p, "http", 8080, "10.9.9.9", CIS_OK, NULL);
  expect_addr(p, "https", 443, "10.9.9.9", CIS_EDENIED, "private");
  expect_addr(p, "https", 443, "fd00::5", CIS_OK, NULL);
  expect_addr(p, "http", 80, "::ffff:10.1.1.1", CIS_OK, NULL);
  cis_http_policy_free(p);

  /* host bits of a block are ignored; a bare IPv6 block needs no brackets */
  p = policy_of("10.1.2.3/16", "fd00::/8", NULL);
  expect_allowed(p, "http://10.1.200.1/");
  expect_denied(p, "http://10.2.0.1/", "matches no rule");
  expect_allowed(p, "https://[fdff::1]/");
  cis_http_policy_free(p);
}

/* ------------------------------------------------------ real requests */

static void test_allowed_get_and_post(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  assert_non_null(s);
  unsigned port = cis_mock_port(s);
  cis_http_policy *p = policy_of(fmt("http://127.0.0.1:%u", port), NULL);
  cis_http *h = client(NULL);
  cis_http_response r;

  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/echo", port), 5000, &r), CIS_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(cis_http_response_header(&r, "x-method"), "GET");
  assert_int_equal(r.redirects, 0);
  assert_string_equal(r.url, fmt("http://127.0.0.1:%u/echo", port));
  assert_int_equal(r.body_len, 0);
  assert_non_null(r.body);
  cis_http_response_free(&r);

  const char body[] = "{\"q\":\"hello\"}";
  cis_http_header hdrs[] = {{"Content-Type", "application/json"}, {"X-Test", "1"}};
  cis_http_request req = {.url = fmt("http://127.0.0.1:%u/echo", port), .headers = hdrs,
                          .nheaders = 2, .body = body, .body_len = sizeof body - 1};
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_OK);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, sizeof body - 1);
  assert_memory_equal(r.body, body, sizeof body - 1);
  assert_string_equal(cis_http_response_header(&r, "X-Method"), "POST");
  cis_http_response_free(&r);
  char *headers = NULL;
  cis_mock_last(s, NULL, NULL, &headers, NULL);
  assert_non_null(strstr(headers, "Content-Type: application/json"));
  assert_non_null(strstr(headers, "X-Test: 1"));
  free(headers);

  req.method = "PUT";
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_OK);
  assert_string_equal(cis_http_response_header(&r, "X-Method"), "PUT");
  cis_http_response_free(&r);

  /* an error status is a response, not an error */
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/status/503", port), 5000, &r), CIS_OK);
  assert_int_equal(r.status, 503);
  assert_string_equal(r.body, "status 503");
  cis_http_response_free(&r);

  cis_http_free(h);
  cis_http_policy_free(p);
  cis_mock_stop(s);
}

static void test_denied_host_and_port_send_nothing(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  unsigned port = cis_mock_port(s);
  const char *resolve[] = {fmt("api.test:%u:127.0.0.1", port)};
  cis_http_config cfg;
  cis_http_config_default(&cfg);
  cfg.resolve = resolve;
  cfg.nresolve = 1;
  cis_http *h = client(&cfg);
  cis_http_response r;

  cis_http_policy *p = policy_of(fmt("http://api.test:%u", port), NULL);
  /* denied host: a literal the rule does not name */
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/echo", port), 5000, &r), CIS_EDENIED);
  assert_non_null(strstr(cis_errmsg(h), "skill fetcher"));
  assert_non_null(strstr(cis_errmsg(h), "127.0.0.1"));
  /* denied port */
  assert_int_equal(get(h, p, fmt("http://api.test:%u/echo", port + 1), 5000, &r), CIS_EDENIED);
  assert_non_null(strstr(cis_errmsg(h), "scheme or port"));
  /* a name rule does not unlock the loopback address it resolves to */
  assert_int_equal(get(h, p, fmt("http://api.test:%u/echo", port), 5000, &r), CIS_EDENIED);
  assert_non_null(strstr(cis_errmsg(h), "loopback"));
  assert_null(r.body);
  assert_int_equal(cis_mock_requests(s), 0);
  cis_http_policy_free(p);

  /* localhost resolves to loopback addresses: refused the same way */
  p = policy_of(fmt("http://localhost:%u", port), NULL);
  assert_int_equal(get(h, p, fmt("http://localhost:%u/echo", port), 5000, &r), CIS_EDENIED);
  assert_non_null(strstr(cis_errmsg(h), "loopback"));
  cis_http_policy_free(p);

  /* the same request works once an address rule names 127.0.0.1 */
  p = policy_of(fmt("http://api.test:%u", port), fmt("http://127.0.0.1:%u", port), NULL);
  assert_int_equal(get(h, p, fmt("http://api.test:%u/echo", port), 5000, &r), CIS_OK);
  assert_int_equal(r.status, 200);
  cis_http_response_free(&r);
  assert_int_equal(cis_mock_requests(s), 1);
  /* and every numeric spelling of it reaches the same server */
  const char *spell[] = {"2130706433", "0177.0.0.1", "0x7f.0.0.1", "[::ffff:127.0.0.1]"};
  for (size_t i = 0; i < CIS_ARRAY_LEN(spell); i++) {
    assert_int_equal(get(h, p, fmt("http://%s:%u/echo", spell[i], port), 5000, &r), CIS_OK);
    assert_int_equal(r.status, 200);
    cis_http_response_free(&r);
  }
  assert_int_equal(cis_mock_requests(s), 5);
  cis_http_policy_free(p);
  cis_http_free(h);
  cis_mock_stop(s);
}

/* A name with several addresses: the refused ones are skipped at connect
 * time and only an allowed one is used; with none allowed, nothing is
 * sent. */
static void test_connect_time_address_check(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  unsigned port = cis_mock_port(s);
  const char *resolve[] = {fmt("multi.test:%u:127.0.0.2,127.0.0.1", port),
                           fmt("other.test:%u:127.0.0.2", port)};
  cis_http_config cfg;
  cis_http_config_default(&cfg);
  cfg.resolve = resolve;
  cfg.nresolve = 2;
  cis_http *h = client(&cfg);
  cis_http_policy *p = policy_of(fmt("http://multi.test:%u", port), fmt("http://other.test:%u", port),
                                 fmt("http://127.0.0.1:%u", port), NULL);
  cis_http_response r;
  assert_int_equal(get(h, p, fmt("http://multi.test:%u/echo", port), 5000, &r), CIS_OK);
  assert_int_equal(r.status, 200);
  cis_http_response_free(&r);
  assert_int_equal(get(h, p, fmt("http://other.test:%u/echo", port), 5000, &r), CIS_EDENIED);
  assert_non_null(strstr(cis_errmsg(h), "127.0.0.2"));
  assert_int_equal(cis_mock_requests(s), 1);
  cis_http_policy_free(p);
  cis_http_free(h);
  cis_mock_stop(s);
}

static void test_redirects_rechecked(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  cis_mock_server *other = cis_mock_http_start();
  unsigned port = cis_mock_port(s), oport = cis_mock_port(other);
  cis_http_policy *p = policy_of(fmt("http://127.0.0.1:%u", port), NULL);
  cis_http *h = client(NULL);
  cis_http_response r;

  /* to an allowed place: followed */
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/redirect?to=/echo", port), 5000, &r), CIS_OK);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.redirects, 1);
  assert_string_equal(r.url, fmt("http://127.0.0.1:%u/echo", port));
  cis_http_response_free(&r);

  /* to a denied host */
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/redirect?to=http://evil.test/", port), 5000, &r),
                   CIS_EDENIED);
  assert_non_null(strstr(cis_errmsg(h), "evil.test"));
  /* to a denied port on the same address: the other server hears nothing */
  assert_int_equal(
      get(h, p, fmt("http://127.0.0.1:%u/redirect?to=http://127.0.0.1:%u/echo", port, oport), 5000, &r),
      CIS_EDENIED);
  assert_int_equal(cis_mock_requests(other), 0);
  /* to the metadata address, even with a rule for every host */
  cis_http_policy *any = policy_of("*:*", fmt("http://127.0.0.1:%u", port), NULL);
  assert_int_equal(get(h, any, fmt("http://127.0.0.1:%u/redirect?to=http://169.254.169.254/", port),
                       5000, &r),
                   CIS_EDENIED);
  assert_non_null(strstr(cis_errmsg(h), "metadata"));
  /* to a scheme other than http(s) */
  assert_int_equal(get(h, any, fmt("http://127.0.0.1:%u/redirect?to=file:///etc/passwd", port), 5000, &r),
                   CIS_EDENIED);
  cis_http_policy_free(any);

  /* an endless loop ends at the bound */
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/loop", port), 5000, &r), CIS_ENET);
  assert_non_null(strstr(cis_errmsg(h), "redirects"));

  /* with redirects off, the 3xx comes back as is */
  cis_http_config cfg;
  cis_http_config_default(&cfg);
  cfg.no_redirects = true;
  cis_http *h2 = client(&cfg);
  assert_int_equal(get(h2, p, fmt("http://127.0.0.1:%u/redirect?to=http://evil.test/", port), 5000, &r),
                   CIS_OK);
  assert_int_equal(r.status, 302);
  assert_string_equal(cis_http_response_header(&r, "Location"), "http://evil.test/");
  cis_http_response_free(&r);
  cis_http_free(h2);

  cis_http_policy_free(p);
  cis_http_free(h);
  cis_mock_stop(other);
  cis_mock_stop(s);
}

static void test_redirect_methods_and_credentials(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  cis_mock_server *other = cis_mock_http_start();
  unsigned port = cis_mock_port(s), oport = cis_mock_port(other);
  cis_http_policy *p = policy_of(fmt("http://127.0.0.1:%u", port), fmt("http://127.0.0.1:%u", oport), NULL);
  cis_http *h = client(NULL);
  cis_http_response r;
  cis_http_header auth[] = {{"Authorization", "Bearer secret-token"}, {"X-Keep", "yes"}};

  /* 303 after POST: GET without the body */
  cis_http_request req = {.method = "POST", .url = fmt("http://127.0.0.1:%u/redirect?to=/echo&code=303", port),
                          .body = "payload", .body_len = 7};
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_OK);
  assert_string_equal(cis_http_response_header(&r, "X-Method"), "GET");
  assert_int_equal(r.body_len, 0);
  cis_http_response_free(&r);
  /* 307 keeps method and body */
  req.url = fmt("http://127.0.0.1:%u/redirect?to=/echo&code=307", port);
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_OK);
  assert_string_equal(cis_http_response_header(&r, "X-Method"), "POST");
  assert_string_equal(r.body, "payload");
  cis_http_response_free(&r);

  /* same origin: credentials follow */
  cis_http_request g = {.url = fmt("http://127.0.0.1:%u/redirect?to=/headers", port), .headers = auth,
                        .nheaders = 2};
  assert_int_equal(cis_http_fetch(h, p, &who, &g, 5000, &r), CIS_OK);
  assert_non_null(strstr(r.body, "Authorization: Bearer secret-token"));
  cis_http_response_free(&r);
  /* another origin: credentials dropped, other headers kept */
  g.url = fmt("http://127.0.0.1:%u/redirect?to=http://127.0.0.1:%u/headers", port, oport);
  assert_int_equal(cis_http_fetch(h, p, &who, &g, 5000, &r), CIS_OK);
  assert_int_equal(r.redirects, 1);
  assert_null(strstr(r.body, "secret-token"));
  assert_non_null(strstr(r.body, "X-Keep: yes"));
  cis_http_response_free(&r);

  cis_http_policy_free(p);
  cis_http_free(h);
  cis_mock_stop(other);
  cis_mock_stop(s);
}

static void test_size_caps(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  unsigned port = cis_mock_port(s);
  cis_http_policy *p = policy_of(fmt("http://127.0.0.1:%u", port), NULL);
  cis_http_config cfg;
  cis_http_config_default(&cfg);
  cfg.max_response_bytes = 1000;
  cfg.max_request_bytes = 100;
  cis_http *h = client(&cfg);
  cis_http_response r;

  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/bytes?n=1000", port), 5000, &r), CIS_OK);
  assert_int_equal(r.body_len, 1000);
  cis_http_response_free(&r);
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/bytes?n=1001", port), 5000, &r), CIS_ETOOBIG);
  assert_non_null(strstr(cis_errmsg(h), "1000"));
  assert_null(r.body);

  char big[101];
  memset(big, 'b', sizeof big);
  cis_http_request req = {.url = fmt("http://127.0.0.1:%u/echo", port), .body = big, .body_len = 101};
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_ETOOBIG);
  req.body_len = 100;
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_OK);
  cis_http_response_free(&r);
  cis_http_free(h);

  /* the default cap stops an endless stream early: the code tells the cap
   * (ETOOBIG) apart from the 10 s deadline (ETIMEOUT), not a wall-time
   * bound, which a loaded machine could exceed */
  h = client(NULL);
  uint64_t t0 = cis__now_ns();
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/bytes?n=1000000000", port), 10000, &r),
                   CIS_ETOOBIG);
  print_message("the default cap stopped the stream after %.1f ms\n",
                (double)(cis__now_ns() - t0) / 1e6);
  cis_http_free(h);
  cis_http_policy_free(p);
  cis_mock_stop(s);
}

/* Checks that a request with a 300 ms deadline, started at t0 (a
 * cis__now_ns() time), ended on time in a way a loaded machine cannot
 * fail. curl waits in poll(), so load only makes it late in wall time:
 * it never ends early (less 1 ms, as curl judges its timeout on its own
 * clock to the millisecond), and the upper bound is ten times the
 * deadline, which a deadline not enforced at all (the server takes 5 s
 * or more) or several times late still fails. A macro, so a failure names
 * the case's line. */
#define ENDS_AT_300_MS(what, t0)                                                    \
  do {                                                                              \
    double ms_ = (double)(cis__now_ns() - (t0)) / 1e6;                              \
    print_message("deadline 300 ms: %s ended after %.1f ms\n", (what), ms_);        \
    if (ms_ < 300.0 - 1.0 || ms_ > 300.0 * 10)                                      \
      fail_msg("a 300 ms deadline ended %s after %.1f ms", (what), ms_);            \
  } while (0)

static void test_deadline(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  unsigned port = cis_mock_port(s);
  cis_http_policy *p = policy_of(fmt("http://127.0.0.1:%u", port), NULL);
  cis_http *h = client(NULL);
  cis_http_response r;

  uint64_t t0 = cis__now_ns();
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/slow?ms=5000", port), 300, &r), CIS_ETIMEOUT);
  ENDS_AT_300_MS("a slow reply", t0);

  /* a body that trickles in is cut by the same deadline */
  t0 = cis__now_ns();
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/drip?n=100000&ms=50", port), 300, &r),
                   CIS_ETIMEOUT);
  ENDS_AT_300_MS("a trickling body", t0);

  cis_http_free(h);
  cis_http_policy_free(p);
  cis_mock_stop(s);

  /* A server of its own for what follows: the one above may still be
   * taking the requests cut short, and counts them when it gets to them. */
  s = cis_mock_http_start();
  port = cis_mock_port(s);
  p = policy_of(fmt("http://127.0.0.1:%u", port), NULL);
  h = client(NULL);
  /* no time left: nothing is sent */
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/echo", port), 0, &r), CIS_ETIMEOUT);
  cis_http_free(h);

  /* the client's own cap applies when the caller has no deadline */
  cis_http_config cfg;
  cis_http_config_default(&cfg);
  cfg.timeout_ms = 300;
  h = client(&cfg);
  t0 = cis__now_ns();
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/slow?ms=5000", port), UINT64_MAX, &r),
                   CIS_ETIMEOUT);
  ENDS_AT_300_MS("the client's own cap", t0);
  assert_int_equal(cis_mock_requests(s), 1); /* the slow one only */
  cis_http_free(h);
  cis_http_policy_free(p);
  cis_mock_stop(s);
}

static void test_bad_requests(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  unsigned port = cis_mock_port(s);
  cis_http_policy *p = policy_of(fmt("http://127.0.0.1:%u", port), NULL);
  cis_http *h = client(NULL);
  cis_http_response r;
  const char *url = fmt("http://127.0.0.1:%u/echo", port);

  cis_http_request req = {.method = "TRACE", .url = url};
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_EINVAL);
  req.method = "get"; /* methods are case-sensitive */
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_EINVAL);
  req.method = NULL;
  cis_http_header crlf[] = {{"X-A", "b\r\nX-Injected: 1"}};
  req.headers = crlf;
  req.nheaders = 1;
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_EINVAL);
  cis_http_header host[] = {{"Host", "evil.test"}};
  req.headers = host;
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_EINVAL);
  cis_http_header badname[] = {{"X A", "1"}};
  req.headers = badname;
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_EINVAL);
  req.headers = NULL;
  req.body_len = 5; /* body NULL */
  assert_int_equal(cis_http_fetch(h, p, &who, &req, 5000, &r), CIS_EINVAL);
  cis_http_request nourl = {0};
  assert_int_equal(cis_http_fetch(h, p, &who, &nourl, 5000, &r), CIS_EINVAL);
  assert_int_equal(cis_http_fetch(h, NULL, &who, &req, 5000, &r), CIS_EINVAL);
  assert_int_equal(cis_http_fetch(NULL, p, &who, &req, 5000, &r), CIS_EINVAL);
  assert_int_equal(get(h, p, "http://[::1", 5000, &r), CIS_EINVAL);
  assert_int_equal(cis_mock_requests(s), 0);

  const char *bad_resolve[] = {"no-colons"};
  cis_http_config cfg;
  cis_http_config_default(&cfg);
  cfg.resolve = bad_resolve;
  cfg.nresolve = 1;
  cis_http *h2 = NULL;
  assert_int_equal(cis_http_new(&cfg, &h2), CIS_EINVAL);
  assert_non_null(h2); /* a failed client: why, and nothing else */
  assert_non_null(strstr(cis_errmsg(h2), "resolve entry 0"));
  assert_int_equal(cis_http_fetch(h2, p, &who, &req, 5000, &r), CIS_ESTATE);
  assert_non_null(strstr(cis_errmsg(h2), "resolve entry 0"));
  cis_http_free(h2);

  cis_http_policy_free(p);
  cis_http_free(h);
  cis_mock_stop(s);
}

/* A proxy from the environment would hide the real target: it is ignored. */
static void test_environment_proxy_ignored(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  unsigned port = cis_mock_port(s);
  cis_http_policy *p = policy_of(fmt("http://127.0.0.1:%u", port), NULL);
  cis_http *h = client(NULL);
  setenv("http_proxy", "http://127.0.0.1:1", 1);
  setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
  cis_http_response r;
  assert_int_equal(get(h, p, fmt("http://127.0.0.1:%u/echo", port), 5000, &r), CIS_OK);
  assert_int_equal(r.status, 200);
  cis_http_response_free(&r);
  unsetenv("http_proxy");
  unsetenv("HTTP_PROXY");
  cis_http_policy_free(p);
  cis_http_free(h);
  cis_mock_stop(s);
}

/* One client and policy used by several threads at once. */
typedef struct par {
  cis_http *h;                /* shared client */
  const cis_http_policy *p;   /* shared policy */
  unsigned port;              /* mock server port */
  int ok;                     /* successful requests */
} par;

static void *par_main(void *arg) {
  par *a = arg;
  for (int i = 0; i < 5; i++) {
    char url[128], body[32];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/echo", a->port);
    int n = snprintf(body, sizeof body, "msg %d", i);
    cis_http_request req = {.url = url, .body = body, .body_len = (size_t)n};
    cis_http_response r;
    if (cis_http_fetch(a->h, a->p, &who, &req, 5000, &r) == CIS_OK && r.body_len == (size_t)n &&
        memcmp(r.body, body, (size_t)n) == 0)
      a->ok++;
    cis_http_response_free(&r);
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  cis_mock_server *s = cis_mock_http_start();
  unsigned port = cis_mock_port(s);
  cis_http_policy *p = policy_of(fmt("http://127.0.0.1:%u", port), NULL);
  cis_http *h = client(NULL);
  pthread_t t[4];
  par a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (par){.h = h, .p = p, .port = port};
    assert_int_equal(pthread_create(&t[i], NULL, par_main, &a[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(a[i].ok, 5);
  }
  cis_http_policy_free(p);
  cis_http_free(h);
  cis_mock_stop(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rule_parsing),
      cmocka_unit_test(test_default_deny),
      cmocka_unit_test(test_host_scheme_port),
      cmocka_unit_test(test_wildcard_subdomain_not_apex),
      cmocka_unit_test(test_userinfo_judged_by_real_host),
      cmocka_unit_test(test_ip_literal_tricks_denied),
      cmocka_unit_test(test_ip_literal_normalised_for_rules),
      cmocka_unit_test(test_special_addresses_refused),
      cmocka_unit_test(test_cidr_rules),
      cmocka_unit_test(test_allowed_get_and_post),
      cmocka_unit_test(test_denied_host_and_port_send_nothing),
      cmocka_unit_test(test_connect_time_address_check),
      cmocka_unit_test(test_redirects_rechecked),
      cmocka_unit_test(test_redirect_methods_and_credentials),
      cmocka_unit_test(test_size_caps),
      cmocka_unit_test(test_deadline),
      cmocka_unit_test(test_bad_requests),
      cmocka_unit_test(test_environment_proxy_ignored),
      cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
