package nodes

import (
	"errors"
	"net"
	"net/netip"
)

// serveDNS answers every DNS query sent to addr:53 over UDP with REFUSED, until the
// returned function is called. It is the name server in the /etc/resolv.conf of Kubelet
// nodes: CoreDNS refuses to start without an upstream to forward to, as on a real machine
// every node has one, but the test's names stay inside the cluster and no query leaves the
// test's network.
func serveDNS(addr netip.Addr) (stop func(), err error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 53)))
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil || n < 12 || buf[2]&0x80 != 0 { // not a query
				continue
			}
			// The query's header and question back: QR set, opcode and RD kept, RA
			// clear, RCODE 5 (REFUSED).
			buf[2] = 0x80 | buf[2]&0x79
			buf[3] = 5
			_, _ = conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return func() { conn.Close() }, nil
}
