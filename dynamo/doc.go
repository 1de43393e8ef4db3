// Package dynamo is the signaling backend's store: one DynamoDB table that holds
// connections, rooms, their members, the marker items that keep user names
// unique within a room, and the rooms' Web Push subscriptions.
//
// Every exported method of Store is one operation of the protocol and owns its
// DynamoDB calls. Room creation and membership follow the "unique constraints
// using transactions" pattern from the AWS Database blog: the main item and
// every marker are written by ONE TransactWriteItems whose conditions enforce
// the constraints, and a cancelled transaction is turned into a domain error
// (ErrRoomFull, ErrNameTaken, ...) by reading its CancellationReasons item by
// item.
//
// # Items
//
// The key is pk (partition) and sk (sort); there is no secondary index.
//
//	pk                         sk                       kind        attributes
//	connectionID#<connection>  connection               connection  connectionID, participantID, resumeHash,
//	                                                                connectedAt, expiresAt, room, userName,
//	                                                                joinedAt (while in a room), awayUntil,
//	                                                                pendingSeq, pendingBytes (while away),
//	                                                                movedTo (a tombstone: a resume replaced it)
//	connectionID#<connection>  held#<seq, 10 digits>    held        connectionID, from, fromParticipant, frame,
//	                                                                at, expiresAt
//	roomID#<room>              member#<participant>     member      roomID, participantID, connectionID, userName,
//	                                                                joinedAt, liveUntil, awayUntil, expiresAt
//	roomID#<room>              room                     room        id, capacity, members, away, version,
//	                                                                subs, createdAt, createdBy, expiresAt
//	roomID#<room>              sub#<endpoint hash>      subscription roomID, subID, participantID, connectionID,
//	                                                                endpoint, p256dh, auth, createdAt,
//	                                                                notifiedAt, until, expiresAt
//	roomID#<room>              userName#<user name>     userName    room, userName, connectionID, participantID,
//	                                                                expiresAt
//
// The room item doubles as the marker of its (unique) room ID.
//
// # Why a room is one partition
//
// Who is told about a change of membership is decided by reading the room,
// and that read must see every change committed before it: two people who
// enter at the same moment must not both read a room without the other in it,
// and a newcomer must not be handed a member who already left. A global
// secondary index cannot promise that (its reads are eventually consistent,
// typically lagging by under a second, unbounded in theory). So a room, its
// members and its name markers share the partition roomID#<room>, and Roster
// reads it with one Query and ConsistentRead: it returns the room item and the
// member items (the sort keys up to "room"; "member#" sorts before it,
// "userName#" after), and sees every transaction that committed before the
// Query started. Of two simultaneous enters, the one that commits second reads
// the first, so at least one side is told of the other.
//
// The room item's version is incremented by every transaction that adds or
// removes a member (Enter, Leave, Disconnect, Expel), in the same transaction.
// A Roster therefore names the exact point in the room's history it saw, and
// the handlers stamp the frames they build from it with that version: the
// sequence number clients use to drop a stale presence frame.
//
// Transactions keep the unique-constraint pattern: Enter writes the
// connection, the room (count and version), the member item and the name
// marker in one TransactWriteItems; the capacity and name conditions hold
// whatever the interleaving. Items of one room share a partition, so a
// room's write rate is bounded by one partition's (1,000 writes per second),
// far above what a room of at most MaxRoomCapacity members produces.
//
// # Participants, away members and resumes
//
// A seat belongs to a participant (its member item is keyed by the
// participantID PutConnection issues), not to a connection: Resume moves it
// to a new connection in one transaction that spends the resume token (only
// its SHA-256 is stored), rewrites the member item and the name marker, and
// leaves the old connection item as a tombstone (movedTo) for relays in
// flight, expiring TombstoneTTL later. With ResumeGrace, Disconnect does not
// take a member out: the participant goes away (awayUntil on its connection
// and member items, the room's away count incremented) and keeps its seat
// and name. Lambda has no timers, so nothing fires when the window ends:
// every reader decides from the timestamps (Roster puts a member away past
// its window among the stale, Resume refuses it, Hold refuses to keep more
// for it), and the next Roster of the room frees the seat through Expel.
// Signals relayed to an away member are kept in its connection's partition
// (held#<seq>), bounded per participant by MaxHeldSignals and MaxHeldBytes
// and counted on its connection item, so that the resume's transaction can
// require that nothing was held since it read them; nothing is written for
// a room where nobody is away. The room's away count is what lets a
// keep-alive know, with one cheap read, that there is something to sweep.
//
// # Push subscriptions
//
// A member of a room may follow it with a browser's Web Push subscription
// (Subscribe): the item is keyed by a hash of the endpoint, in the room's
// partition, so one endpoint follows a room once and a re-subscribe
// replaces. The room item counts them (subs) and the connection item counts
// its subscribes; Subscribe's ONE transaction updates both counters under
// their limits and puts the item, so the limits hold across Lambda
// instances. Roster reads the room item anyway, so an enter into a room
// with no subscriptions costs nothing more; only when subs > 0 does the
// enter path read them (Subscriptions, one consistent Query of "sub#…").
// ClaimNotification's conditional update of notifiedAt is the per
// subscription cooldown; DropSubscription removes what a push service says
// is gone. A subscription expires RoomTTL after it was made or last
// notified (or at the browser's expirationTime); readers treat it as gone
// from then on and the enter path drops it, which keeps the room's count
// right. One that DynamoDB's TTL deletes first leaves the count one too
// high until the room expires: it only ever refuses a subscribe early.
//
// # Expiry
//
// expiresAt is the table's TTL attribute (epoch seconds): connections expire
// ConnectionTTL after they connect (API Gateway closes every connection after
// 2 hours), name markers ConnectionTTL after the enter, and rooms RoomTTL
// after the last enter or leave. A member item is live until liveUntil
// (ConnectionTTL after the enter) but expires RoomTTL later still: a member
// whose $disconnect was lost holds a seat in the room's count, and its item
// must outlive the connection so that the next Roster of the room finds it
// stale and Expel gives the seat back. DynamoDB deletes expired items
// late (typically within days), so every read and condition here treats an
// item whose expiresAt has passed as absent — except Disconnect, which
// removes an expired connection and its membership like a live one.
package dynamo
