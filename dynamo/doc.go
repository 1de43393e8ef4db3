// Package dynamo is the signaling backend's store: one DynamoDB table that holds
// connections, rooms and the marker items that keep user names unique within a
// room.
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
//	pk                              kind        attributes
//	connectionID#<connection ID>    connection  connectionID, connectedAt, expiresAt,
//	                                            room, userName, joinedAt (while in a room)
//	roomID#<room ID>                room        id, capacity, members, createdAt, createdBy, expiresAt
//	member#<room ID>#<connection>   member      roomID, connectionID, userName, joinedAt, expiresAt
//	userName#<room ID>#<user name>  userName    room, userName, connectionID, expiresAt
//
// The room item doubles as the marker of its (unique) room ID. A connection in
// a room has one member item; only member items carry a roomID attribute, so
// the RoomMate index (hash key roomID) lists exactly the members of a room.
// Member items are only ever created and deleted, never re-keyed, which keeps
// the index simple for DynamoDB and for the embedded emulator alike.
//
// expiresAt is the table's TTL attribute (epoch seconds): connections expire
// ConnectionTTL after they connect (API Gateway closes every connection after
// 2 hours), member items and name markers ConnectionTTL after the enter, and
// rooms RoomTTL after the last enter or leave. DynamoDB deletes expired items
// late (typically within days), so every read and condition here treats an
// item whose expiresAt has passed as absent — except Disconnect, which
// removes an expired connection and its membership like a live one.
package dynamo
