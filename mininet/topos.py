"""Lab topologies for Mininet (`mn --custom mininet/topos.py --topo NAME,ARGS`).

  single,N     one switch, N hosts
  linear,N     N switches in a line, one host each
  tree,D,F     a tree of depth D and fanout F, hosts on the leaves
  ring,N       N switches in a ring (a loop), one host each
  fattree,K    a K-ary fat-tree (K even): (K/2)^2 core, K pods of K/2
               aggregation + K/2 edge switches, K/2 hosts per edge switch

Switches are named s1..sN with dpid N, hosts h1..hM with IP 10.0.0.M, so
dpids and addresses are predictable in tests.
"""

from mininet.topo import Topo


def _dpid(i):
    return '%016x' % i


class _Numbered(Topo):
    def sw(self, i):
        return self.addSwitch('s%d' % i, dpid=_dpid(i))

    def host(self, i):
        return self.addHost('h%d' % i, ip='10.0.0.%d/8' % i, mac='00:00:00:00:%02x:%02x' % (i >> 8, i & 0xff))


class SingleTopo(_Numbered):
    def build(self, n=3):
        s = self.sw(1)
        for i in range(1, int(n) + 1):
            self.addLink(self.host(i), s)


class LinearTopo(_Numbered):
    def build(self, n=3):
        n = int(n)
        prev = None
        for i in range(1, n + 1):
            s = self.sw(i)
            self.addLink(self.host(i), s)
            if prev:
                self.addLink(prev, s)
            prev = s


class TreeTopo(_Numbered):
    def build(self, depth=2, fanout=2):
        self.count_s = 0
        self.count_h = 0
        self._add(int(depth), int(fanout))

    def _add(self, depth, fanout):
        if depth == 0:
            self.count_h += 1
            return self.host(self.count_h)
        self.count_s += 1
        s = self.sw(self.count_s)
        for _ in range(fanout):
            self.addLink(s, self._add(depth - 1, fanout))
        return s


class RingTopo(_Numbered):
    def build(self, n=6):
        n = int(n)
        if n < 3:
            raise ValueError('a ring needs at least 3 switches')
        sws = [self.sw(i) for i in range(1, n + 1)]
        for i, s in enumerate(sws, 1):
            self.addLink(self.host(i), s)
        for i in range(n):
            self.addLink(sws[i], sws[(i + 1) % n])


class FatTreeTopo(_Numbered):
    def build(self, k=4):
        k = int(k)
        if k < 2 or k % 2:
            raise ValueError('fat-tree k must be even and >= 2')
        half = k // 2
        n = 0
        core = []
        for _ in range(half * half):
            n += 1
            core.append(self.sw(n))
        h = 0
        for _pod in range(k):
            aggs, edges = [], []
            for _ in range(half):
                n += 1
                aggs.append(self.sw(n))
            for _ in range(half):
                n += 1
                edges.append(self.sw(n))
            for a_i, a in enumerate(aggs):
                for c in range(half):
                    self.addLink(a, core[a_i * half + c])
                for e in edges:
                    self.addLink(a, e)
            for e in edges:
                for _ in range(half):
                    h += 1
                    self.addLink(self.host(h), e)


topos = {
    'single': SingleTopo,
    'linear': LinearTopo,
    'tree': TreeTopo,
    'ring': RingTopo,
    'fattree': FatTreeTopo,
}


def switch_links(topo):
    """Number of switch-to-switch cables (each is two directed links)."""
    sw = set(topo.switches())
    return sum(1 for a, b in topo.links() if a in sw and b in sw)
