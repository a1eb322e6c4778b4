/*
 * This file implements the test of the operator page in a browser: a
 * server in process on loopback with alice's skills and a few calls (one
 * that fails, one whose log line is markup), then headless Chromium
 * driven over --remote-debugging-pipe (cdp_pipe.c) types alice's token,
 * presses Refresh and reads the DOM: the skills listed, the calls with
 * their statuses, the log line shown as text and no script of it run, the
 * token kept out of the URL. It takes a screenshot and checks it: a PNG
 * of the viewport's size, the page's bar in its colour where it is, and
 * not blank (decoded here with zlib). Then, the token forgotten and the
 * page opened afresh, it makes calls (some failing) while the page reads
 * /metrics on its own, and checks the load charts: each chart's axes,
 * legend and points as the page reports them, and each series' colour
 * drawn inside its chart's plot in a second screenshot.
 *
 * Without a browser it exits 77 (skipped) saying so, but fails under
 * CI=true. argv[1]: the folder of the built fixtures, where the
 * screenshots are also left (operator_page.png, operator_page_charts.png)
 * for a person to look at.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <zlib.h>

#include "serve/cdp_pipe.h"
#include "serve/op_server.h"

#define WIDTH 1000
#define HEIGHT 700
/* The bar's colour (page.css, #bar). */
#define BAR_R 0x1f
#define BAR_G 0x4e
#define BAR_B 0x79

/* What the group shares: one server, one browser, one loaded page. */
static const char *g_dir;
static char g_browser[512];
static op_server *g_srv;
static cdp g_cdp;
static char *g_dom;          /* the DOM's facts as JSON text (dom_facts) */
static bool g_launched;

/* The markup a guest logs (the XSS line): had it become elements, its
 * handlers would set window.__xss (were the page's policy to allow it). */
static const char xss_input[] =
    "{\"note\":\"<img src=x onerror=window.__xss=1><script>window.__xss=2</script><b>bold</b>\"}";

/* Waits for expr to evaluate to one of the wanted strings (bounded by the
 * browser's deadline); what it was last. */
static char *wait_for(const char *expr, const char *want1, const char *want2) {
  char *v = NULL;
  for (int i = 0; i < 600; i++) {
    free(v);
    v = cdp_eval(&g_cdp, expr);
    if (!v || !strcmp(v, want1) || (want2 && !strcmp(v, want2))) return v;
    usleep(50000);
  }
  fprintf(stderr, "page: %s is still %s\n", expr, v);
  return v;
}

static const char dom_facts[] =
    "JSON.stringify({"
    " skills: [...document.querySelectorAll('#skills tbody td.name')].map(e => e.textContent),"
    " names: [...document.querySelectorAll('#calls tbody td.name')].map(e => e.textContent),"
    " statuses: [...document.querySelectorAll('#calls tbody td.status')].map(e => e.textContent),"
    " errors: [...document.querySelectorAll('#calls tbody td.error')].map(e => e.textContent),"
    " logs: [...document.querySelectorAll('#calls pre.logs')].map(e => e.textContent),"
    " elements_from_logs: document.querySelectorAll('#calls img, #calls script, #calls b').length,"
    " xss: typeof window.__xss,"
    " url: location.href,"
    " stored: sessionStorage.getItem('cis.token'),"
    " metrics: [...document.querySelectorAll('#metrics tbody tr')].map(r => r.textContent),"
    " status: document.getElementById('status').textContent"
    "})";

static int group_setup(void **state) {
  (void)state;
  g_srv = op_server_start(g_dir);
  if (!g_srv) return -1;
  /* The calls the page will show: one that works, one that traps, one
   * whose log line is markup. */
  if (op_invoke(g_srv, "echo", "{\"hello\":1}") != 200 || op_invoke(g_srv, "trap", "{}") != 422 ||
      op_invoke(g_srv, "logger", xss_input) != 200) {
    fprintf(stderr, "page: the calls before the browser did not answer as expected\n");
    return -1;
  }
  char profile[300], log[300];
  snprintf(profile, sizeof profile, "%s/chromium", g_srv->home);
  snprintf(log, sizeof log, "%s/chromium.log", g_srv->home);
  /* 120 s for everything the browser does: generous on a loaded machine,
   * and still inside the test's CTest timeout. */
  if (cdp_launch(&g_cdp, g_browser, profile, log, 120000) != 0 || cdp_open_page(&g_cdp, WIDTH, HEIGHT) != 0) {
    fprintf(stderr, "page: the browser did not start (its output: %s)\n", log);
    return -1;
  }
  g_launched = true;
  char params[128];
  snprintf(params, sizeof params, "{\"url\":\"http://127.0.0.1:%d/\"}", g_srv->port);
  cJSON_Delete(cdp_call(&g_cdp, "Page.navigate", params));
  char *v = wait_for("document.readyState === 'complete' && !!document.getElementById('refresh')", "true", NULL);
  bool ok = v && !strcmp(v, "true");
  free(v);
  if (!ok) return -1;
  /* Typed as a person would: focus the field, insert the text, press the
   * button. */
  free(cdp_eval(&g_cdp, "document.getElementById('token').focus()"));
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "text", g_srv->alice);
  char *text = cJSON_PrintUnformatted(p);
  cJSON_Delete(p);
  cJSON_Delete(cdp_call(&g_cdp, "Input.insertText", text));
  free(text);
  free(cdp_eval(&g_cdp, "document.getElementById('refresh').click()"));
  v = wait_for("document.body.dataset.state", "loaded", "error");
  ok = v && !strcmp(v, "loaded");
  if (!ok) fprintf(stderr, "page: state %s\n", v ? v : "(none)");
  free(v);
  g_dom = cdp_eval(&g_cdp, dom_facts);
  return ok && g_dom ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  if (g_launched) cdp_close(&g_cdp);
  free(g_dom);
  op_server_stop(g_srv);
  return 0;
}

/* The array member name of the DOM facts, as strings joined by '\n'. */
static char *facts_list(const char *name) {
  cJSON *o = cJSON_Parse(g_dom);
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, name);
  assert_true(cJSON_IsArray(a));
  size_t cap = 1, n = 0;
  for (const cJSON *e = a->child; e; e = e->next) cap += strlen(cJSON_IsString(e) ? e->valuestring : "") + 1;
  char *out = calloc(1, cap);
  for (const cJSON *e = a->child; e; e = e->next) {
    size_t k = strlen(cJSON_IsString(e) ? e->valuestring : "");
    memcpy(out + n, e->valuestring, k);
    n += k;
    out[n++] = '\n';
  }
  out[n] = 0;
  cJSON_Delete(o);
  return out;
}

static char *facts_string(const char *name) {
  cJSON *o = cJSON_Parse(g_dom);
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);
  char *out = strdup(cJSON_IsString(s) ? s->valuestring : cJSON_IsNull(s) ? "(null)" : "(not a string)");
  cJSON_Delete(o);
  return out;
}

static void page_lists_skills_and_calls_with_statuses(void **state) {
  (void)state;
  char *skills = facts_list("skills"), *names = facts_list("names"), *statuses = facts_list("statuses");
  char *errors = facts_list("errors"), *metrics = facts_list("metrics");
  fprintf(stderr, "skills:\n%scalls:\n%sstatuses:\n%s", skills, names, statuses);
  assert_non_null(strstr(skills, "echo\n"));
  assert_non_null(strstr(skills, "trap\n"));
  assert_non_null(strstr(skills, "logger\n"));
  assert_non_null(strstr(skills, "grow\n"));
  /* Newest first: logger, trap, echo. */
  assert_string_equal(names, "logger\ntrap\necho\n");
  assert_string_equal(statuses, "200\n422\n200\n");
  assert_non_null(strstr(errors, "CIS_TRAP_UNREACHABLE"));
  /* The metrics table, from /metrics: three calls, one failed. */
  assert_non_null(strstr(metrics, "Calls3\n"));
  assert_non_null(strstr(metrics, "CIS_TRAP_UNREACHABLE 1"));
  free(skills);
  free(names);
  free(statuses);
  free(errors);
  free(metrics);
}

static void page_shows_a_guest_log_line_as_text_and_runs_no_script(void **state) {
  (void)state;
  char *logs = facts_list("logs"), *xss = facts_string("xss");
  cJSON *o = cJSON_Parse(g_dom);
  int elements = cJSON_GetObjectItemCaseSensitive(o, "elements_from_logs")->valueint;
  cJSON_Delete(o);
  /* The line as its characters, not as elements. */
  assert_non_null(strstr(logs, "<img src=x onerror=window.__xss=1><script>window.__xss=2</script><b>bold</b>"));
  assert_int_equal(elements, 0);
  assert_string_equal(xss, "undefined");
  free(logs);
  free(xss);
}

static void page_keeps_the_token_out_of_the_url(void **state) {
  (void)state;
  char *url = facts_string("url"), *stored = facts_string("stored");
  char want[64];
  snprintf(want, sizeof want, "http://127.0.0.1:%d/", g_srv->port);
  assert_string_equal(url, want);
  assert_null(strstr(url, g_srv->alice));
  /* Kept for this tab (sessionStorage), so a reload needs no retyping. */
  assert_string_equal(stored, g_srv->alice);
  free(url);
  free(stored);
}

/* ------------------------------------------------------------- PNG */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static uint8_t *b64_decode(const char *s, size_t *len) {
  size_t n = strlen(s);
  uint8_t *out = malloc(n / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  *len = 0;
  for (size_t i = 0; out && i < n && s[i] != '='; i++) {
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(a, s[i]);
    if (!p || !s[i]) {
      free(out);
      return NULL;
    }
    acc = acc << 6 | (uint32_t)(p - a);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[(*len)++] = (uint8_t)(acc >> bits);
    }
  }
  return out;
}

static int paeth(int a, int b, int c) {
  int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Decodes an 8-bit RGB or RGBA, non-interlaced PNG into RGB pixels
 * (malloc'd, w * h * 3). NULL (said on stderr) for anything else. */
static uint8_t *png_rgb(const uint8_t *png, size_t len, uint32_t *w, uint32_t *h) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (len < 33 || memcmp(png, sig, 8) != 0 || memcmp(png + 12, "IHDR", 4) != 0) return NULL;
  *w = be32(png + 16);
  *h = be32(png + 20);
  int depth = png[24], type = png[25], interlace = png[28];
  int bpp = type == 6 ? 4 : type == 2 ? 3 : 0;
  if (depth != 8 || !bpp || interlace || *w == 0 || *h == 0 || *w > 10000 || *h > 10000) {
    fprintf(stderr, "png: depth %d, colour type %d, interlace %d: not read here\n", depth, type, interlace);
    return NULL;
  }
  uint8_t *idat = malloc(len), *raw = NULL, *rgb = NULL;
  size_t ni = 0;
  for (size_t off = 8; idat && off + 12 <= len;) {
    uint32_t n = be32(png + off);
    if (n > len - off - 12) break;
    if (!memcmp(png + off + 4, "IDAT", 4)) {
      memcpy(idat + ni, png + off + 8, n);
      ni += n;
    }
    off += 12 + n;
  }
  size_t stride = (size_t)*w * (size_t)bpp;
  uLongf rawlen = (uLongf)((stride + 1) * *h);
  raw = idat ? malloc(rawlen) : NULL;
  if (!raw || uncompress(raw, &rawlen, idat, ni) != Z_OK || rawlen != (stride + 1) * *h) goto done;
  rgb = malloc((size_t)*w * *h * 3);
  if (!rgb) goto done;
  for (uint32_t y = 0; y < *h; y++) {
    uint8_t *line = raw + y * (stride + 1), *cur = line + 1;
    const uint8_t *prev = y ? raw + (y - 1) * (stride + 1) + 1 : NULL;
    for (size_t x = 0; x < stride; x++) {
      int a = x >= (size_t)bpp ? cur[x - bpp] : 0, b = prev ? prev[x] : 0,
          c = prev && x >= (size_t)bpp ? prev[x - bpp] : 0;
      switch (line[0]) {
      case 0: break;
      case 1: cur[x] = (uint8_t)(cur[x] + a); break;
      case 2: cur[x] = (uint8_t)(cur[x] + b); break;
      case 3: cur[x] = (uint8_t)(cur[x] + (a + b) / 2); break;
      case 4: cur[x] = (uint8_t)(cur[x] + paeth(a, b, c)); break;
      default: free(rgb); rgb = NULL; goto done;
      }
    }
    for (uint32_t x = 0; x < *w; x++) memcpy(rgb + ((size_t)y * *w + x) * 3, cur + (size_t)x * bpp, 3);
  }
done:
  free(idat);
  free(raw);
  return rgb;
}

/* A screenshot of the viewport, left as file in the fixtures' folder and
 * checked to be a PNG of the viewport's size: its RGB pixels (malloc'd,
 * WIDTH * HEIGHT * 3). */
static uint8_t *screenshot(const char *file) {
  cJSON *r = cdp_call(&g_cdp, "Page.captureScreenshot", "{\"format\":\"png\"}");
  const cJSON *data = cJSON_GetObjectItemCaseSensitive(r, "data");
  assert_true(cJSON_IsString(data));
  size_t len;
  uint8_t *png = b64_decode(data->valuestring, &len);
  cJSON_Delete(r);
  assert_non_null(png);
  char path[600];
  snprintf(path, sizeof path, "%s/%s", g_dir, file);
  FILE *f = fopen(path, "wb");
  if (f) {
    fwrite(png, 1, len, f);
    fclose(f);
  }
  assert_true(len > 1000);
  assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
  uint32_t w = 0, h = 0;
  uint8_t *rgb = png_rgb(png, len, &w, &h);
  free(png);
  assert_non_null(rgb);
  assert_int_equal(w, WIDTH);
  assert_int_equal(h, HEIGHT);
  return rgb;
}

static void page_screenshot_is_a_png_with_the_bar_and_content(void **state) {
  (void)state;
  /* Logs opened, so that the markup line is in the picture as text. */
  free(cdp_eval(&g_cdp, "document.querySelectorAll('#calls details').forEach(d => d.open = true)"));
  uint8_t *rgb = screenshot("operator_page.png");
  const uint32_t w = WIDTH, h = HEIGHT;
  /* The bar, top left, in its colour. */
  const uint8_t *px = rgb + (5 * (size_t)w + 5) * 3;
  fprintf(stderr, "pixel (5,5): %02x%02x%02x\n", px[0], px[1], px[2]);
  assert_true(abs(px[0] - BAR_R) <= 2 && abs(px[1] - BAR_G) <= 2 && abs(px[2] - BAR_B) <= 2);
  /* Not blank: below the bar, the tables' text, borders and headings are
   * pixels that are neither the background nor the bar. */
  size_t inked = 0, total = 0;
  for (uint32_t y = 80; y < h; y++)
    for (uint32_t x = 0; x < w; x++, total++) {
      const uint8_t *q = rgb + ((size_t)y * w + x) * 3;
      if (q[0] < 200 || q[1] < 200 || q[2] < 200) inked++;
    }
  fprintf(stderr, "inked pixels below the bar: %zu of %zu\n", inked, total);
  assert_true(inked > total / 500);
  assert_true(inked < total / 2);
  free(rgb);
}

/* ------------------------------------------------------- load charts */

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The charts as the page reports them, with where each canvas is in the
 * viewport: [{id, rect: {x, y, w, h}, summary: {...}}] (page.js,
 * drawChart). */
static const char chart_facts[] =
    "JSON.stringify([...document.querySelectorAll('canvas.chart')].map(c => {"
    " const r = c.getBoundingClientRect();"
    " return {id: c.id, rect: {x: r.left, y: r.top, w: r.width, h: r.height},"
    "         summary: c.dataset.summary ? JSON.parse(c.dataset.summary) : null}; }))";

/* The fewest points any series of any chart has drawn (0 before the
 * first drawing). */
static const char chart_min_points[] =
    "Math.min(...[...document.querySelectorAll('canvas.chart')].flatMap(c => c.dataset.summary ?"
    " JSON.parse(c.dataset.summary).series.map(s => s.points) : [0]))";

static double num(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  assert_true(cJSON_IsNumber(v));
  return v->valuedouble;
}

static const char *str(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  assert_true(cJSON_IsString(v));
  return v->valuestring;
}

/* Pixels within tol of colour "#rrggbb" in the box [x0, x1) x [y0, y1). */
static size_t count_colour(const uint8_t *rgb, const char *hex, int x0, int y0, int x1, int y1, int tol) {
  unsigned r, g, b;
  assert_int_equal(sscanf(hex, "#%02x%02x%02x", &r, &g, &b), 3);
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 > WIDTH) x1 = WIDTH;
  if (y1 > HEIGHT) y1 = HEIGHT;
  size_t n = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      const uint8_t *q = rgb + ((size_t)y * WIDTH + (size_t)x) * 3;
      if (abs(q[0] - (int)r) <= tol && abs(q[1] - (int)g) <= tol && abs(q[2] - (int)b) <= tol) n++;
    }
  return n;
}

/* A value's height in a plot of ph pixels whose scale tops at ymax
 * (values above it are drawn at the top). */
static double px_of(double v, double ymax, int ph) { return (v < ymax ? v : ymax) / ymax * ph; }

/* What a chart must show: its canvas, its series' legends. */
static const struct {
  const char *id;
  const char *series[3];
} want_charts[] = {
    {"chart-calls", {"all calls", "failed", NULL}},
    {"chart-errors", {"failed calls", NULL, NULL}},
    {"chart-latency", {"p50", "p90", "p99"}},
};

static void page_charts_load_from_metrics_without_a_token(void **state) {
  (void)state;
  /* A fresh page with no token: forgotten, then the page opened again. */
  free(cdp_eval(&g_cdp, "document.getElementById('forget').click()"));
  char params[128];
  snprintf(params, sizeof params, "{\"url\":\"http://127.0.0.1:%d/\"}", g_srv->port);
  cJSON_Delete(cdp_call(&g_cdp, "Page.navigate", params));
  char *v = wait_for("document.readyState === 'complete' && !!document.getElementById('chart-latency') &&"
                     " document.getElementById('token').value === '' && sessionStorage.getItem('cis.token') === null"
                     " && document.body.dataset.state === 'idle' && !document.querySelector('#skills tbody tr')",
                     "true", NULL);
  assert_non_null(v);
  assert_string_equal(v, "true");
  free(v);

  /* Calls, three that work to one that traps, while the page reads
   * /metrics by itself, until every series has two points drawn: bounded
   * by 400 rounds and 90 s. */
  int min_points = 0, rounds = 0, ok_calls = 0, failed_calls = 0;
  uint64_t until = mono_ms() + 90000;
  while (rounds < 400 && mono_ms() < until) {
    rounds++;
    for (int k = 0; k < 3; k++) ok_calls += op_invoke(g_srv, "echo", "{\"n\":1}") == 200;
    failed_calls += op_invoke(g_srv, "trap", "{}") == 422;
    v = cdp_eval(&g_cdp, chart_min_points);
    min_points = v ? atoi(v) : 0;
    free(v);
    if (min_points >= 2) break;
    usleep(200000);
  }
  fprintf(stderr, "charts: %d points per series at least, after %d rounds (%d calls, %d failed)\n", min_points, rounds,
          ok_calls + failed_calls, failed_calls);
  assert_int_equal(ok_calls, 3 * rounds);
  assert_int_equal(failed_calls, rounds);
  assert_true(min_points >= 2);

  /* The metrics table needs no token either (/metrics needs none): it
   * fills from the same readings, while the token-bound tables stay empty. */
  v = cdp_eval(&g_cdp, "[...document.querySelectorAll('#metrics tbody tr')].map(r => r.textContent).join('\\n') +"
                       " '|' + document.querySelectorAll('#skills tbody tr').length + '|' + document.body.dataset.state");
  assert_non_null(v);
  fprintf(stderr, "metrics without a token: %s\n", v);
  assert_non_null(strstr(v, "Calls"));
  assert_non_null(strstr(v, "CIS_TRAP_UNREACHABLE"));
  assert_non_null(strstr(v, "|0|idle"));
  free(v);

  /* What the page says it drew. */
  free(cdp_eval(&g_cdp, "window.scrollTo(0, 0)"));
  char *facts = cdp_eval(&g_cdp, chart_facts);
  assert_non_null(facts);
  fprintf(stderr, "charts: %s\n", facts);
  cJSON *charts = cJSON_Parse(facts);
  free(facts);
  assert_true(cJSON_IsArray(charts));
  assert_int_equal(cJSON_GetArraySize(charts), 3);
  char *status = cdp_eval(&g_cdp, "document.getElementById('load-status').className");
  assert_non_null(status);
  assert_string_equal(status, ""); /* not "error" */
  free(status);

  uint8_t *rgb = screenshot("operator_page_charts.png");
  for (size_t i = 0; i < 3; i++) {
    const cJSON *c = cJSON_GetArrayItem(charts, (int)i);
    assert_string_equal(str(c, "id"), want_charts[i].id);
    const cJSON *rect = cJSON_GetObjectItemCaseSensitive(c, "rect");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(c, "summary");
    assert_true(cJSON_IsObject(sum));
    /* Labelled axes. */
    assert_true(strlen(str(sum, "title")) > 0);
    assert_non_null(strstr(str(sum, "xAxis"), "time"));
    assert_true(strlen(str(sum, "yAxis")) > 0);
    assert_true(num(sum, "yMax") > 0);
    /* The canvas in the viewport, its plot inside it. */
    const cJSON *plot = cJSON_GetObjectItemCaseSensitive(sum, "plot");
    int cx = (int)num(rect, "x"), cy = (int)num(rect, "y");
    int px = cx + (int)num(plot, "x"), py = cy + (int)num(plot, "y");
    int pw = (int)num(plot, "w"), ph = (int)num(plot, "h");
    assert_true(cx >= 0 && cy >= 0 && cx + (int)num(rect, "w") <= WIDTH && cy + (int)num(rect, "h") <= HEIGHT);
    assert_true(pw > 100 && ph > 60);
    /* Each series: in the legend, two points or more, a last value above
     * 0, and its colour inside the plot (the legend is above it). */
    const cJSON *series = cJSON_GetObjectItemCaseSensitive(sum, "series");
    int ns = 0;
    while (ns < 3 && want_charts[i].series[ns]) ns++;
    assert_int_equal(cJSON_GetArraySize(series), ns);
    double prev = 0, ymax = num(sum, "yMax");
    for (int k = 0; k < ns; k++) {
      const cJSON *s = cJSON_GetArrayItem(series, k);
      assert_string_equal(str(s, "name"), want_charts[i].series[k]);
      assert_true(num(s, "points") >= 2);
      double last = num(s, "last");
      assert_true(last > 0);
      size_t inked = count_colour(rgb, str(s, "color"), px, py - 3, px + pw + 3, py + ph + 1, 24);
      fprintf(stderr, "%s %s: last %.3f, %zu pixels of %s in the plot\n", want_charts[i].id, str(s, "name"), last,
              inked, str(s, "color"));
      /* A series drawn later over the same pixels may cover this one's
       * line: p50, p90 and p99 all near 0 on a scale a slow earlier call
       * stretched, or a later one's line rising through this one's from
       * a first point at its level (two points a second apart on the 5
       * minutes' axis are one column of pixels, and their dots). So: a
       * series drawn after this one (the page's drawOrder: the latency
       * chart draws p50 last) whose values span to within 4 px of this
       * one's span. */
      bool covered = false;
      double lo = px_of(num(s, "min"), ymax, ph), hi = px_of(num(s, "max"), ymax, ph);
      const cJSON *order = cJSON_GetObjectItemCaseSensitive(sum, "drawOrder");
      assert_int_equal(cJSON_GetArraySize(order), ns);
      int drawn_at[3] = {0, 0, 0};
      for (int d = 0; d < ns; d++) {
        int idx = (int)cJSON_GetArrayItem(order, d)->valuedouble;
        assert_true(idx >= 0 && idx < ns);
        drawn_at[idx] = d;
      }
      for (int j = 0; j < ns && !covered; j++) {
        if (drawn_at[j] <= drawn_at[k]) continue;
        const cJSON *o = cJSON_GetArrayItem(series, j);
        double olo = px_of(num(o, "min"), ymax, ph), ohi = px_of(num(o, "max"), ymax, ph);
        covered = olo < hi + 4 && ohi > lo - 4;
      }
      if (!covered) assert_true(inked >= 8);
      /* p50 <= p90 <= p99; failed calls fewer than all. */
      if (i == 2) assert_true(last >= prev);
      if (i == 0 && k == 1) assert_true(last < prev);
      if (i == 1) assert_true(last < 100);
      prev = last;
    }
  }
  free(rgb);
  cJSON_Delete(charts);
}

int main(int argc, char **argv) {
  g_dir = argc > 1 ? argv[1] : ".";
  signal(SIGPIPE, SIG_IGN); /* a browser gone: its pipe's writes fail, they do not kill */
  if (!cdp_find_browser(g_browser, sizeof g_browser)) {
    const char *ci = getenv("CI");
    bool must = ci && !strcmp(ci, "true");
    fprintf(stderr,
            "test_serve_page: no chromium on PATH (nor $CIS_CHROMIUM): %s. Install Debian's chromium "
            "(scripts/install-deps.sh).\n",
            must ? "failing, since CI=true" : "skipped");
    return must ? 1 : 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(page_lists_skills_and_calls_with_statuses),
      cmocka_unit_test(page_shows_a_guest_log_line_as_text_and_runs_no_script),
      cmocka_unit_test(page_keeps_the_token_out_of_the_url),
      cmocka_unit_test(page_screenshot_is_a_png_with_the_bar_and_content),
      cmocka_unit_test(page_charts_load_from_metrics_without_a_token),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
