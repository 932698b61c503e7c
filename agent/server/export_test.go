package server

// QueuedWrites returns how many writes wait for the committer, so that a test can open its
// gate only once every write it sent is queued.
func (s *Server) QueuedWrites() int {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return len(s.queue)
}
