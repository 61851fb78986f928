// The in-memory "cart" both baseline servers serve: one array of items shaped like
// cartkit's (name, quantity, reservation, timestamps), so responses have the same size.
// Adding an existing name adds to its quantity, as cartkit does.

/** A new, empty item list. */
export function createItems() {
  const items = [];
  let version = 0;
  return {
    list: () => ({ items, version }),
    /** Returns the changed item, or undefined for an invalid body. */
    add(body) {
      if (typeof body !== 'object' || body === null) return undefined;
      const { name, quantity = 1 } = body;
      if (typeof name !== 'string' || name.length === 0 || !Number.isSafeInteger(quantity)) {
        return undefined;
      }
      const now = new Date().toISOString();
      version++;
      const existing = items.find((item) => item.name === name);
      if (existing !== undefined) {
        existing.quantity += quantity;
        existing.updatedAt = now;
        return { item: existing, version };
      }
      const item = {
        name,
        quantity,
        reservation: {
          status: 'pending',
          id: null,
          quantity,
          attempts: 0,
          lastError: null,
          requestedAt: now,
          updatedAt: now,
        },
        addedAt: now,
        updatedAt: now,
      };
      items.push(item);
      return { item, version };
    },
  };
}
