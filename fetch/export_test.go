package fetch

// Active is Client.Active for the torrent: the windows its read heads publish to eviction.
func (t *Torrent) Active() [][2]int64 { return t.c.Active(t.t.InfoHash()) }

// Client is the client the torrent was added to.
func (t *Torrent) Client() *Client { return t.c }
