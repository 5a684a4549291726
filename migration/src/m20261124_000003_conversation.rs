//! Comments, guestbook messages (留言) and the in-app notification inbox.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
    ArticleId,
    UserId,
    ParentId,
    ReplyToId,
    ReplyToUserId,
    Content,
    Status,
    ReplyCount,
    ClientIp,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GuestbookMessages {
    Table,
    Id,
    UserId,
    Content,
    Status,
    Reply,
    RepliedBy,
    RepliedAt,
    ClientIp,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    Kind,
    DedupKey,
    Title,
    Body,
    ArticleId,
    CommentId,
    GuestbookMessageId,
    ReadAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Articles {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Comments::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Comments::Id))
                    .col(big_integer(Comments::ArticleId))
                    .col(big_integer(Comments::UserId))
                    // The thread's top-level comment; null for a top-level comment.
                    .col(big_integer_null(Comments::ParentId))
                    // The comment answered (the parent or a reply in its thread).
                    .col(big_integer_null(Comments::ReplyToId))
                    .col(big_integer_null(Comments::ReplyToUserId))
                    .col(text(Comments::Content))
                    .col(string_len(Comments::Status, 16))
                    // Published replies of a top-level comment.
                    .col(big_integer(Comments::ReplyCount).default(0))
                    .col(string_len(Comments::ClientIp, 64).default(""))
                    .col(timestamp_with_time_zone(Comments::CreatedAt))
                    .col(timestamp_with_time_zone(Comments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comments_article")
                            .from(Comments::Table, Comments::ArticleId)
                            .to(Articles::Table, Articles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comments_user")
                            .from(Comments::Table, Comments::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comments_parent")
                            .from(Comments::Table, Comments::ParentId)
                            .to(Comments::Table, Comments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comments_reply_to")
                            .from(Comments::Table, Comments::ReplyToId)
                            .to(Comments::Table, Comments::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            // Threads of an article, newest first.
            (
                "idx_comments_threads",
                vec![
                    Comments::ArticleId,
                    Comments::ParentId,
                    Comments::CreatedAt,
                    Comments::Id,
                ],
            ),
            // Replies of a thread, oldest first.
            (
                "idx_comments_replies",
                vec![Comments::ParentId, Comments::CreatedAt, Comments::Id],
            ),
            // "My comments".
            ("idx_comments_user", vec![Comments::UserId, Comments::Id]),
            // The moderation queue.
            ("idx_comments_status", vec![Comments::Status, Comments::Id]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Comments::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(GuestbookMessages::Table)
                    .if_not_exists()
                    .col(big_pk_auto(GuestbookMessages::Id))
                    .col(big_integer(GuestbookMessages::UserId))
                    .col(text(GuestbookMessages::Content))
                    .col(string_len(GuestbookMessages::Status, 16))
                    .col(text_null(GuestbookMessages::Reply))
                    .col(big_integer_null(GuestbookMessages::RepliedBy))
                    .col(timestamp_with_time_zone_null(GuestbookMessages::RepliedAt))
                    .col(string_len(GuestbookMessages::ClientIp, 64).default(""))
                    .col(timestamp_with_time_zone(GuestbookMessages::CreatedAt))
                    .col(timestamp_with_time_zone(GuestbookMessages::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_guestbook_user")
                            .from(GuestbookMessages::Table, GuestbookMessages::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_guestbook_status")
                    .table(GuestbookMessages::Table)
                    .col(GuestbookMessages::Status)
                    .col(GuestbookMessages::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Notifications::Id))
                    .col(big_integer(Notifications::UserId))
                    .col(string_len(Notifications::Kind, 32))
                    // One notification per event per person: unique with the user.
                    .col(string_len(Notifications::DedupKey, 128))
                    .col(string_len(Notifications::Title, 200))
                    .col(text(Notifications::Body))
                    .col(big_integer_null(Notifications::ArticleId))
                    .col(big_integer_null(Notifications::CommentId))
                    .col(big_integer_null(Notifications::GuestbookMessageId))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_user")
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_notifications_event")
                            .col(Notifications::UserId)
                            .col(Notifications::DedupKey)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_inbox")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_created")
                    .table(Notifications::Table)
                    .col(Notifications::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Notifications::Table.into_iden(),
            GuestbookMessages::Table.into_iden(),
            Comments::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
