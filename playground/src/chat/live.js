// Live updates over one WebSocket (graphql-transport-ws): the session's
// notifications (`OnNotification`) and the open booking's status
// (`OnBookingStatus`). The socket reconnects with exponential backoff for
// as long as the page is open, graphql-ws resubscribes what was
// subscribed, and every (re)connection catches up through the queries —
// `Notifications(after: <the newest seen>)` and the booking — whatever was
// published while the socket was down.
import { bearer, createSocket } from '../common/graphql.js';
import { contractDocument } from '../common/contract.js';

export class LiveUpdates {
  /**
   * `call` is the page's API, `onStatus(state)` gets `connecting`,
   * `connected`, `reconnecting` or `off`, `onNotifications(list, live)` the
   * new notifications, `onBookingStatus(event)` each status change,
   * `onUnavailable()` learns that this server has no notifications, and
   * `onReconnected()` runs after a reconnection.
   */
  constructor({ token, call, onStatus, onNotifications, onBookingStatus, onUnavailable, onReconnected }) {
    this.call = call;
    this.handlers = { onStatus, onNotifications, onBookingStatus, onUnavailable, onReconnected };
    this.seen = new Set();
    this.newest = null;
    this.available = true;
    this.connectedBefore = false;
    this.stopped = false;
    this.bookingWatch = null;
    this.client = createSocket({
      authorization: bearer(token),
      lazy: false,
      onNonLazyError: () => onStatus('off'),
      on: {
        connecting: () => onStatus(this.connectedBefore ? 'reconnecting' : 'connecting'),
        connected: () => {
          const again = this.connectedBefore;
          this.connectedBefore = true;
          onStatus('connected');
          this.catchUp();
          if (again) onReconnected();
        },
        closed: () => {
          if (!this.stopped) onStatus('reconnecting');
        },
      },
    });
    this.unsubscribeNotifications = this.client.subscribe(
      { query: contractDocument('OnNotification'), operationName: 'OnNotification' },
      {
        next: ({ data }) => {
          if (data?.notificationAdded) this.add([data.notificationAdded], true);
        },
        // GraphQL errors (an array) mean the server does not know the
        // operation; a close event is the socket's and is retried.
        error: (error) => {
          if (Array.isArray(error)) this.unavailable();
        },
        complete: () => {},
      },
    );
  }

  /** Follows `bookingId`'s status from now on (one booking at a time). */
  watchBooking(bookingId) {
    this.bookingWatch?.();
    this.bookingWatch = this.client.subscribe(
      { query: contractDocument('OnBookingStatus'), operationName: 'OnBookingStatus', variables: { bookingId } },
      {
        next: ({ data }) => {
          if (data?.bookingStatusChanged) this.handlers.onBookingStatus(data.bookingStatusChanged);
        },
        error: () => {},
        complete: () => {},
      },
    );
  }

  /** Marks everything up to the newest notification read. */
  async markAllRead() {
    if (!this.newest) return;
    await this.call('MarkNotificationsRead', { upTo: this.newest.id });
  }

  /** Closes the socket for good. */
  stop() {
    this.stopped = true;
    this.handlers.onStatus('off');
    this.client.dispose();
  }

  async catchUp() {
    if (!this.available) return;
    try {
      const data = await this.call('Notifications', { after: this.newest?.id ?? null, first: 50 });
      this.add(data.notifications ?? [], false);
    } catch (error) {
      // A document the server cannot validate: it has no notifications.
      if (error.code === 'BAD_USER_INPUT') this.unavailable();
    }
  }

  add(notifications, live) {
    const fresh = notifications.filter((n) => !this.seen.has(n.id));
    for (const n of fresh) {
      this.seen.add(n.id);
      const at = Date.parse(n.at);
      const newest = this.newest ? Date.parse(this.newest.at) : -Infinity;
      if (at > newest || (at === newest && n.id > this.newest.id)) this.newest = n;
    }
    if (fresh.length > 0) this.handlers.onNotifications(fresh, live);
  }

  unavailable() {
    if (!this.available) return;
    this.available = false;
    this.handlers.onUnavailable();
  }
}
