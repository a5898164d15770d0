/*
 * weft-plumb: the kernel side of a CNI ADD in one small process, speaking
 * rtnetlink directly (what `ip` and `ethtool` would do in four to six
 * processes). weft-cni (northbound/cni/netlink.ts) runs it when it is built,
 * and falls back to iproute2/ethtool when it is not.
 *
 *   weft-plumb veth HOST HOST_MAC PEER MTU NETNS
 *       a veth pair: HOST here (MAC HOST_MAC, up), PEER born inside the
 *       network namespace at path NETNS; both with MTU.
 *   weft-plumb config NETNS TMP IFNAME MAC MTU ADDRESS/LEN GATEWAY|-
 *       inside NETNS: TMP renamed IFNAME, MAC, MTU, TX checksum offload
 *       off (`ethtool -K IFNAME tx off`), the address, up, and a default
 *       route via GATEWAY unless the namespace has one already.
 *       Prints {"defaultRoute":true|false}.
 *
 *   weft-plumb serve
 *       for a resident caller (the CNI agent): reads requests from stdin,
 *       one per line, "ID<TAB>veth|config<TAB>ARG<TAB>...", runs each in a
 *       child of its own (forking this small process costs far less than a
 *       Node process starting one), and answers each with one line
 *       "ID CODE TEXT" (CODE as the exit code below, TEXT the output or the
 *       error), written whole, in whatever order they finish. It exits when
 *       stdin closes.
 *
 * Errors: one line on stderr, "<what>: <strerror>" (so "File exists" reads
 * as in iproute2), and exit 1; 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <linux/veth.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* <net/if.h> clashes with <linux/if.h> */
extern unsigned int if_nametoindex(const char *ifname);

/* In serve mode, the id of the request this child answers (else NULL). */
static const char *serve_id;

/* Serve mode: the answer line, written with one write() so lines never mix. */
static void respond(int code, const char *text) {
  char line[1024];
  int n = snprintf(line, sizeof line - 1, "%s %d %s", serve_id, code, text);
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  for (int i = 0; i < n; i++) if (line[i] == '\n') line[i] = ' ';
  line[n++] = '\n';
  ssize_t w = write(1, line, (size_t)n);
  (void)w;
}

static void die(const char *what, int err) {
  if (serve_id) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
    respond(1, msg);
    _exit(1);
  }
  fprintf(stderr, "%s: %s\n", what, strerror(err));
  exit(1);
}
static void usage(void) {
  if (serve_id) { respond(2, "bad arguments"); _exit(2); }
  fprintf(stderr, "usage: weft-plumb veth HOST HOST_MAC PEER MTU NETNS\n"
                  "       weft-plumb config NETNS TMP IFNAME MAC MTU ADDRESS/LEN GATEWAY|-\n"
                  "       weft-plumb serve\n");
  exit(2);
}

/* --- a netlink request with nested attributes --- */
struct req {
  struct nlmsghdr h;
  char buf[2048];
};
static struct rtattr *attr(struct req *r, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len));
  size_t need = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_SPACE(len);
  if (need > sizeof *r) { fprintf(stderr, "netlink request too large\n"); exit(1); }
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = (unsigned)need;
  return a;
}
static struct rtattr *nest(struct req *r, unsigned short type) { return attr(r, type, NULL, 0); }
static void end_nest(struct req *r, struct rtattr *a) { a->rta_len = (unsigned short)((char *)&r->h + r->h.nlmsg_len - (char *)a); }
static void *tail(struct req *r) { return (char *)&r->h + NLMSG_ALIGN(r->h.nlmsg_len); }

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) die("netlink socket", errno);
  return fd;
}
/* Sends the request, returns 0 or the kernel's errno. */
static int nl_talk(int fd, struct req *r) {
  static unsigned seq;
  r->h.nlmsg_seq = ++seq;
  r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(fd, &r->h, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) die("netlink send", errno);
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) { if (errno == EINTR) continue; die("netlink receive", errno); }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != r->h.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}
static void start(struct req *r, unsigned short type, unsigned short flags, size_t body) {
  memset(r, 0, sizeof *r);
  r->h.nlmsg_type = type;
  r->h.nlmsg_flags = flags;
  r->h.nlmsg_len = (unsigned)NLMSG_LENGTH(body);
}

static void parse_mac(const char *s, unsigned char mac[6]) {
  if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6 || strlen(s) != 17) usage();
}
static unsigned parse_mtu(const char *s) {
  char *e;
  unsigned long v = strtoul(s, &e, 10);
  if (*e || v < 68 || v > 65535) usage();
  return (unsigned)v;
}
static void check_name(const char *s) { if (!*s || strlen(s) >= IFNAMSIZ) usage(); }

static int cmd_veth(char **a) {
  const char *host = a[0], *peer = a[2], *netns = a[4];
  unsigned char mac[6];
  check_name(host); check_name(peer); parse_mac(a[1], mac);
  unsigned mtu = parse_mtu(a[3]);
  int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die(netns, errno);
  int fd = nl_open();
  struct req r;
  start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
  struct ifinfomsg *ifi = NLMSG_DATA(&r.h);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  attr(&r, IFLA_IFNAME, host, strlen(host) + 1);
  attr(&r, IFLA_ADDRESS, mac, 6);
  attr(&r, IFLA_MTU, &mtu, 4);
  struct rtattr *li = nest(&r, IFLA_LINKINFO);
  attr(&r, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = nest(&r, IFLA_INFO_DATA);
  struct rtattr *pi = nest(&r, VETH_INFO_PEER);
  struct ifinfomsg *pifi = tail(&r);
  r.h.nlmsg_len = NLMSG_ALIGN(r.h.nlmsg_len) + (unsigned)NLMSG_ALIGN(sizeof *pifi);
  memset(pifi, 0, sizeof *pifi);
  pifi->ifi_family = AF_UNSPEC;
  attr(&r, IFLA_IFNAME, peer, strlen(peer) + 1);
  attr(&r, IFLA_MTU, &mtu, 4);
  attr(&r, IFLA_NET_NS_FD, &nsfd, 4);
  end_nest(&r, pi);
  end_nest(&r, data);
  end_nest(&r, li);
  int err = nl_talk(fd, &r);
  if (err) die("creating the veth pair", err);
  if (serve_id) respond(0, "");
  return 0;
}

static void set_link(int fd, int idx, const char *name, const unsigned char *mac, unsigned mtu, int up) {
  struct req r;
  start(&r, RTM_NEWLINK, 0, sizeof(struct ifinfomsg));
  struct ifinfomsg *ifi = NLMSG_DATA(&r.h);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = idx;
  if (up) { ifi->ifi_flags = IFF_UP; ifi->ifi_change = IFF_UP; }
  if (name) attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  if (mac) attr(&r, IFLA_ADDRESS, mac, 6);
  if (mtu) attr(&r, IFLA_MTU, &mtu, 4);
  int err = nl_talk(fd, &r);
  if (err) die(up ? "bringing the interface up" : "renaming the interface, setting its MAC and MTU", err);
}

static int cmd_config(char **a) {
  const char *netns = a[0], *tmp = a[1], *ifname = a[2], *cidr = a[5], *gw = a[6];
  unsigned char mac[6];
  check_name(tmp); check_name(ifname); parse_mac(a[3], mac);
  unsigned mtu = parse_mtu(a[4]);
  char ip[64];
  const char *slash = strchr(cidr, '/');
  if (!slash || (size_t)(slash - cidr) >= sizeof ip) usage();
  memcpy(ip, cidr, (size_t)(slash - cidr));
  ip[slash - cidr] = 0;
  char *e;
  long plen = strtol(slash + 1, &e, 10);
  struct in_addr addr, gwa;
  if (*e || plen < 1 || plen > 32 || inet_pton(AF_INET, ip, &addr) != 1) usage();
  int has_gw = strcmp(gw, "-") != 0;
  if (has_gw && inet_pton(AF_INET, gw, &gwa) != 1) usage();

  int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die(netns, errno);
  if (setns(nsfd, CLONE_NEWNET) < 0) die("entering the network namespace", errno);
  int fd = nl_open();
  int idx = (int)if_nametoindex(tmp);
  if (!idx) die(tmp, errno);

  /* TX checksum offload off, as `ethtool -K tx off` (TCP through the OVS userspace datapath needs it) */
  int ioc = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ioc < 0) die("socket", errno);
  struct ethtool_value ev = {.cmd = ETHTOOL_STXCSUM, .data = 0};
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, tmp, IFNAMSIZ - 1);
  ifr.ifr_data = (char *)&ev;
  if (ioctl(ioc, SIOCETHTOOL, &ifr) < 0) die("turning TX checksum offload off", errno);
  close(ioc);

  set_link(fd, idx, ifname, mac, mtu, 0);

  struct req r;
  start(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifaddrmsg));
  struct ifaddrmsg *ifa = NLMSG_DATA(&r.h);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)plen;
  ifa->ifa_index = (unsigned)idx;
  attr(&r, IFA_LOCAL, &addr, 4);
  attr(&r, IFA_ADDRESS, &addr, 4);
  int err = nl_talk(fd, &r);
  if (err) die("adding the address", err);

  set_link(fd, idx, NULL, NULL, 0, 1);

  int default_route = 0;
  if (has_gw) {
    start(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct rtmsg));
    struct rtmsg *rt = NLMSG_DATA(&r.h);
    rt->rtm_family = AF_INET;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = RTN_UNICAST;
    attr(&r, RTA_GATEWAY, &gwa, 4);
    attr(&r, RTA_OIF, &idx, 4);
    err = nl_talk(fd, &r);
    if (err && err != EEXIST) die("adding the default route", err);
    default_route = err == 0;
  }
  if (serve_id) respond(0, default_route ? "{\"defaultRoute\":true}" : "{\"defaultRoute\":false}");
  else printf("{\"defaultRoute\":%s}\n", default_route ? "true" : "false");
  return 0;
}

static int dispatch(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "veth") == 0) return cmd_veth(argv + 2);
  if (argc == 9 && strcmp(argv[1], "config") == 0) return cmd_config(argv + 2);
  usage();
  return 2;
}

static int serve(void) {
  signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    size_t len = strlen(line);
    int too_long = 0;
    if (len && line[len - 1] == '\n') line[--len] = 0;
    else if (len == sizeof line - 1) {
      /* longer than the buffer: drop the rest of the line, and refuse the request */
      int ch;
      while ((ch = getchar()) != EOF && ch != '\n') {}
      too_long = 1;
    }
    char *argv[12];
    int argc = 0;
    char *save, *tok = strtok_r(line, "\t", &save);
    const char *id = tok;
    while (tok && argc < 11) { argv[argc++] = tok; tok = strtok_r(NULL, "\t", &save); }
    if (!id || argc < 1) continue;
    if (too_long || argc < 2) {
      serve_id = id;
      respond(2, too_long ? "request too long" : "bad arguments");
      serve_id = NULL;
      continue;
    }
    /* argv[0] is the id, in the place of the program name */
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0) { serve_id = id; respond(1, "fork failed"); serve_id = NULL; continue; }
    if (pid == 0) {
      serve_id = id;
      _exit(dispatch(argc, argv));
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "serve") == 0) return serve();
  return dispatch(argc, argv);
}
