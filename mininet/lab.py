#!/usr/bin/python3
"""Weft Mininet lab runner.

Starts the Weft controller (unless --controller points at a running one),
starts Mininet with the userspace datapath and OpenFlow 1.3, waits until the
controller has discovered the topology, runs pingall, and reports. With
--flap A,B it then takes the link between switches A and B down, waits for
reconvergence, pings again, brings the link back and pings once more.

  mininet/lab ring 6                 # ring of 6 switches, shortest-path forwarding
  mininet/lab fattree 4
  mininet/lab single 3 --apps learning
  mininet/lab ring 6 --flap s1,s2 --json
  mininet/lab ring 4 --keep          # leave it running (Ctrl-C stops everything)
  mininet/lab ring 4 --controller 127.0.0.1:6653 --api http://127.0.0.1:8080 --admin-token-file ./weft-admin.token
                                     # a running controller, and its admin token

The API needs a bearer token: a controller the lab starts writes its admin
token next to its database (weft-admin.token in the lab's temporary folder);
for a running one, --admin-token-file names that file (default: ./weft-admin.token
when it exists, the file a controller on ./weft.db writes).

Run as root. Needs `npm run build` first (the controller is dist/...).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from functools import partial

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from mininet.net import Mininet  # noqa: E402
from mininet.node import OVSSwitch, RemoteController  # noqa: E402
from mininet.log import setLogLevel  # noqa: E402
import topos  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def log(msg):
    sys.stderr.write('[lab] %s\n' % msg)
    sys.stderr.flush()


class Api:
    def __init__(self, base, token_file=None):
        self.base = base.rstrip('/')
        self.token_file = token_file
        self.token = None

    def _token(self):
        # read once it exists: the controller writes it before its API listens
        if self.token is None and self.token_file and os.path.exists(self.token_file):
            with open(self.token_file) as f:
                self.token = f.read().strip() or None
        return self.token

    def get(self, path):
        req = urllib.request.Request(self.base + path)
        token = self._token()
        if token:
            req.add_header('Authorization', 'Bearer ' + token)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read().decode())

    def wait(self, what, pred, timeout):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = pred()
                if last:
                    return last
            except urllib.error.HTTPError as e:
                if e.code in (401, 403):  # no use waiting: the lab lacks the token
                    raise RuntimeError('the API answered %d %s: give the controller\'s admin token file with '
                                       '--admin-token-file (it writes weft-admin.token next to its database)'
                                       % (e.code, e.reason))
                last = e
            except Exception as e:  # controller not up yet
                last = e
            time.sleep(0.2)
        raise RuntimeError('timed out waiting for %s (last: %r)' % (what, last))


def start_controller(args, of_port, api_port, db):
    cmd = ['node', os.path.join(ROOT, 'dist/northbound/cli/weft.js'), 'controller',
           '--of-port', str(of_port), '--of-host', '127.0.0.1', '--api-port', str(api_port),
           '--db', db, '--apps', args.apps, '--log-level', args.log_level]
    log('starting controller: ' + ' '.join(cmd))
    return subprocess.Popen(cmd, stdout=sys.stderr, stderr=sys.stderr, start_new_session=True)


def stop_process(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def port_packets(net):
    """Total packets sent by every switch port (to spot broadcast storms)."""
    total = 0
    for s in net.switches:
        out = s.cmd('ovs-ofctl -O OpenFlow13 dump-ports %s' % s.name)
        total += sum(int(x) for x in re.findall(r'tx pkts=(\d+)', out))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('topo', choices=sorted(topos.topos))
    ap.add_argument('params', nargs='*', help='topology parameters, e.g. 6 for ring 6')
    ap.add_argument('--apps', default='forwarding', help='controller app profile (default forwarding)')
    ap.add_argument('--controller', help='use a running controller at HOST:PORT instead of starting one')
    ap.add_argument('--api', help='its REST API base URL (default http://127.0.0.1:8080)')
    ap.add_argument('--admin-token-file', help='its admin token file (default ./weft-admin.token if it exists; '
                    'a controller the lab starts writes its own next to its database)')
    ap.add_argument('--default-ports', action='store_true', help='start the controller on 6653/8080 instead of free ports')
    ap.add_argument('--flap', help='A,B: take the link between switches A and B down and up again')
    ap.add_argument('--ping-timeout', default='2')
    ap.add_argument('--settle', type=float, default=30.0, help='seconds to wait for discovery')
    ap.add_argument('--keep', action='store_true', help='keep the lab running until Ctrl-C')
    ap.add_argument('--cli', action='store_true', help='open the Mininet CLI after the checks')
    ap.add_argument('--json', action='store_true', help='print a JSON report on stdout')
    ap.add_argument('--log-level', default='warn')
    args = ap.parse_args()

    setLogLevel('warning')
    topo = topos.topos[args.topo](*args.params)
    n_sw = len(topo.switches())
    expected_links = 2 * topos.switch_links(topo)
    discovers = args.apps not in ('learning', 'none')

    ctl = None
    tmp = tempfile.mkdtemp(prefix='weft-lab-')
    if args.controller:
        host, port = args.controller.rsplit(':', 1)
        of_port = int(port)
        token_file = args.admin_token_file
        if token_file is None and os.path.exists('weft-admin.token'):
            token_file = os.path.abspath('weft-admin.token')
        api = Api(args.api or 'http://127.0.0.1:8080', token_file)
    else:
        host = '127.0.0.1'
        of_port = 6653 if args.default_ports else free_port()
        api_port = 8080 if args.default_ports else free_port()
        ctl = start_controller(args, of_port, api_port, os.path.join(tmp, 'weft.db'))
        api = Api('http://127.0.0.1:%d' % api_port, os.path.join(tmp, 'weft-admin.token'))
    report = {'topo': args.topo, 'params': args.params, 'apps': args.apps, 'switches': n_sw,
              'hosts': len(topo.hosts()), 'expected_links': expected_links, 'phases': [], 'ok': False}
    net = None
    try:
        api.wait('controller API', lambda: api.get('/v1/health')['status'] == 'ok', 20)
        switch = partial(OVSSwitch, datapath='user', protocols='OpenFlow13', failMode='secure')
        net = Mininet(topo=topo, switch=switch, controller=None, build=False, waitConnected=False, autoStaticArp=False)
        net.addController('c0', controller=RemoteController, ip=host, port=of_port)
        net.build()
        net.start()
        # the controller may serve other switches too (npm start's container hosts): count the lab's own
        lab_dpids = set(sw.dpid for sw in net.switches)
        api.wait('%d switches connected' % n_sw, lambda: len(lab_dpids & set(s['dpid'] for s in api.get('/v1/switches'))) == n_sw, 60)
        log('%d switches connected' % n_sw)

        def links():
            return len(api.get('/v1/links'))

        def phase(name, want_links):
            t0 = time.time()
            if discovers:
                api.wait('%d links' % want_links, lambda: links() == want_links, args.settle)
                time.sleep(1.6)  # let edge ports settle before flooding (forwarding settleMs)
            before = port_packets(net)
            loss = net.pingAll(timeout=args.ping_timeout)
            p = {'name': name, 'loss': loss, 'links': links() if discovers else None,
                 'packets': port_packets(net) - before, 'hosts_known': len(api.get('/v1/hosts')),
                 'seconds': round(time.time() - t0, 2)}
            log('phase %s: %s' % (name, p))
            report['phases'].append(p)
            return p

        phase('initial', expected_links)
        if args.flap:
            a, b = args.flap.split(',')
            net.configLinkStatus(a, b, 'down')
            t0 = time.time()
            if discovers:
                api.wait('links to drop to %d' % (expected_links - 2), lambda: links() == expected_links - 2, 15)
            report['link_down_detect_s'] = round(time.time() - t0, 2)
            phase('link-down', expected_links - 2)
            net.configLinkStatus(a, b, 'up')
            phase('link-up', expected_links)
        report['ok'] = all(p['loss'] == 0 for p in report['phases'])
        if args.cli:
            from mininet.cli import CLI
            CLI(net)
        if args.keep:
            log('lab running; controller API at %s%s; Ctrl-C to stop' % (
                api.base, ' (admin token in %s)' % api.token_file if api.token_file else ''))
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                log('stopping')
    except Exception as e:
        report['error'] = str(e)
        log('error: %s' % e)
    finally:
        if net:
            net.stop()
        stop_process(ctl)
        shutil.rmtree(tmp, ignore_errors=True)  # the lab's own database and admin token file
    if args.json:
        print(json.dumps(report))
    else:
        for p in report['phases']:
            print('%-10s loss %5.1f%%  links %s  packets %d  (%ss)' % (p['name'], p['loss'], p['links'], p['packets'], p['seconds']))
        print('OK' if report['ok'] else 'FAILED')
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
