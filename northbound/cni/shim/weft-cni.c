/*
 * weft-cni (native front end). A CNI runtime starts a plugin process for
 * every call; a Node program pays ~30 ms to start and as much to exit, and
 * ~40 ms of CPU, on each ADD. This front end starts in about a millisecond
 * and hands the call to the host's resident Weft CNI agent (`weft cni-agent`)
 * over a Unix socket, where the same plugin code runs warm. With no agent it
 * runs the Node plugin instead, so an
 * agent that is down slows attaches but never breaks them. The build puts
 * this binary in dist/bin/; the Node plugin is ../northbound/cni/weft-cni.js
 * from there (a symlink to the binary, e.g. in /opt/cni/bin, works too).
 *
 * Socket: $WEFT_CNI_SOCKET, else the network configuration's top-level
 * "agentSocket" string, else none (the Node plugin runs).
 *
 * Wire format, one call per connection:
 *   request:  "WEFTCNI1\n", then NAME=VALUE\0 for each CNI_* variable, then
 *             an empty entry (\0), then the configuration bytes; then the
 *             plugin shuts down its write side.
 *   reply:    "<exit code>\n" followed by what to print on stdout.
 * See docs/cni.md ("The agent").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_CONF (4 * 1024 * 1024)
#define REPLY_TIMEOUT_MS (10 * 60 * 1000)

static char *conf;
static size_t conf_len;

/* A CNI error object on stdout, exit 1 (the agent failed us mid-call). */
static void fail(int code, const char *msg, const char *details) {
  printf("{\"cniVersion\":\"1.0.0\",\"code\":%d,\"msg\":\"%s\",\"details\":\"", code, msg);
  for (const char *p = details; p && *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if ((unsigned char)*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  printf("\"}\n");
  fflush(stdout);
  exit(1);
}

static void read_stdin(void) {
  size_t cap = 8192;
  conf = malloc(cap);
  if (!conf) fail(4, "out of memory", "");
  for (;;) {
    if (conf_len == cap) {
      if (cap >= MAX_CONF) fail(4, "network configuration too large", "");
      cap *= 2;
      char *n = realloc(conf, cap);
      if (!n) fail(4, "out of memory", "");
      conf = n;
    }
    ssize_t r = read(0, conf + conf_len, cap - conf_len);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(5, "reading the network configuration from stdin failed", strerror(errno));
    }
    conf_len += (size_t)r;
  }
}

/* --- a minimal JSON walk: the top-level string "agentSocket", if any --- */
static const char *js, *je;
static void ws(void) { while (js < je && (*js == ' ' || *js == '\t' || *js == '\n' || *js == '\r')) js++; }
/* Skips a string at js (on the opening quote); copies it unescaped (simple escapes only) to out if given. */
static int str(char *out, size_t outcap) {
  size_t n = 0;
  if (js >= je || *js != '"') return -1;
  js++;
  while (js < je && *js != '"') {
    char c = *js++;
    if (c == '\\') {
      if (js >= je) return -1;
      c = *js++;
      if (c == 'u') { if (je - js < 4) return -1; js += 4; out = NULL; continue; } /* not a path we accept */
      switch (c) { case 'n': c = '\n'; break; case 't': c = '\t'; break; case 'r': c = '\r'; break; case 'b': c = '\b'; break; case 'f': c = '\f'; break; default: break; }
    }
    if (out) { if (n + 1 >= outcap) out = NULL; else out[n++] = c; }
  }
  if (js >= je) return -1;
  js++;
  if (out) out[n] = 0;
  return out ? 1 : 0;
}
static int value(int depth) {
  ws();
  if (js >= je || depth > 64) return -1;
  if (*js == '"') return str(NULL, 0) < 0 ? -1 : 0;
  if (*js == '{' || *js == '[') {
    char close = *js == '{' ? '}' : ']';
    int obj = *js == '{';
    js++;
    ws();
    if (js < je && *js == close) { js++; return 0; }
    for (;;) {
      if (obj) { ws(); if (str(NULL, 0) < 0) return -1; ws(); if (js >= je || *js++ != ':') return -1; }
      if (value(depth + 1) < 0) return -1;
      ws();
      if (js >= je) return -1;
      if (*js == ',') { js++; continue; }
      if (*js == close) { js++; return 0; }
      return -1;
    }
  }
  while (js < je && (*js == '-' || *js == '+' || *js == '.' || (*js >= '0' && *js <= '9') || (*js >= 'a' && *js <= 'z') || (*js >= 'A' && *js <= 'Z'))) js++;
  return 0;
}
/* 1 and the path in out if the configuration has a top-level "agentSocket" string. */
static int agent_socket_from_conf(char *out, size_t outcap) {
  js = conf; je = conf + conf_len;
  ws();
  if (js >= je || *js != '{') return 0;
  js++;
  ws();
  if (js < je && *js == '}') return 0;
  for (;;) {
    char key[32];
    ws();
    int k = str(key, sizeof key);
    if (k < 0) return 0;
    ws();
    if (js >= je || *js++ != ':') return 0;
    ws();
    if (k == 1 && strcmp(key, "agentSocket") == 0 && js < je && *js == '"') return str(out, outcap) == 1 && out[0];
    if (value(0) < 0) return 0;
    ws();
    if (js < je && *js == ',') { js++; continue; }
    return 0;
  }
}

/* Runs the Node plugin with the same environment; stdin is replayed through a pipe. */
static void exec_node_plugin(void) {
  char self[PATH_MAX], js_path[PATH_MAX + 48];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) fail(999, "cannot find the weft-cni plugin", strerror(errno));
  self[n] = 0;
  char *slash = strrchr(self, '/');
  *slash = 0;
  snprintf(js_path, sizeof js_path, "%s/../northbound/cni/weft-cni.js", self);
  int p[2];
  if (pipe(p) < 0) fail(999, "pipe failed", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) fail(999, "fork failed", strerror(errno));
  if (pid == 0) { /* the writer: feeds the configuration to the plugin's stdin */
    close(p[0]);
    size_t off = 0;
    while (off < conf_len) {
      ssize_t w = write(p[1], conf + off, conf_len - off);
      if (w < 0) { if (errno == EINTR) continue; _exit(1); }
      off += (size_t)w;
    }
    _exit(0);
  }
  close(p[1]);
  if (dup2(p[0], 0) < 0) fail(999, "dup2 failed", strerror(errno));
  close(p[0]);
  char *argv[] = {js_path, NULL};
  execv(js_path, argv);
  fail(999, "cannot run the weft-cni plugin", js_path);
}

static int write_all(int fd, const char *b, size_t n) {
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    b += w; n -= (size_t)w;
  }
  return 0;
}

int main(void) {
  /* an agent that closes early must give a CNI error, not a silent death by SIGPIPE */
  signal(SIGPIPE, SIG_IGN);
  read_stdin();
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  const char *env_sock = getenv("WEFT_CNI_SOCKET");
  if (env_sock && *env_sock) {
    if (strlen(env_sock) >= sizeof path) fail(7, "WEFT_CNI_SOCKET is too long", env_sock);
    strcpy(path, env_sock);
  } else if (!agent_socket_from_conf(path, sizeof path)) {
    exec_node_plugin();
  }

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(999, "socket failed", strerror(errno));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, path);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) { close(fd); exec_node_plugin(); }
    fail(11, "cannot reach the Weft CNI agent", strerror(errno));
  }

  /* request */
  if (write_all(fd, "WEFTCNI1\n", 9) < 0) fail(11, "writing to the Weft CNI agent failed", strerror(errno));
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "CNI_", 4) != 0) continue;
    if (write_all(fd, *e, strlen(*e) + 1) < 0) fail(11, "writing to the Weft CNI agent failed", strerror(errno));
  }
  if (write_all(fd, "", 1) < 0 || write_all(fd, conf, conf_len) < 0) fail(11, "writing to the Weft CNI agent failed", strerror(errno));
  shutdown(fd, SHUT_WR);

  /* reply */
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) fail(4, "out of memory", "");
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  for (;;) {
    int pr = poll(&pfd, 1, REPLY_TIMEOUT_MS);
    if (pr < 0) { if (errno == EINTR) continue; fail(11, "waiting for the Weft CNI agent failed", strerror(errno)); }
    if (pr == 0) fail(11, "the Weft CNI agent did not answer in time", path);
    if (len == cap) {
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) fail(4, "out of memory", "");
      buf = nb;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0) { if (errno == EINTR) continue; fail(11, "reading from the Weft CNI agent failed", strerror(errno)); }
    if (r == 0) break;
    len += (size_t)r;
  }
  char *nl = memchr(buf, '\n', len);
  if (!nl) fail(11, "the Weft CNI agent closed the connection without an answer", path);
  *nl = 0;
  char *end;
  long code = strtol(buf, &end, 10);
  if (*end || end == buf || code < 0 || code > 255) fail(11, "the Weft CNI agent gave a malformed answer", path);
  size_t off = (size_t)(nl + 1 - buf);
  if (write_all(1, buf + off, len - off) < 0) return 1;
  return (int)code;
}
